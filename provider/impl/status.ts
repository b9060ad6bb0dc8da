// The sync Kustomization's status as Pulumi outputs. With waitForReady, create/update wait until it is
// Ready at the commit Pulumi made (or a later head of the branch: someone may push meanwhile).
import { readRemoteHead, syncName, type GitCredentials } from "../../bootstrap";
import { Cluster, sleep, type ClusterAccess } from "./kube";

export interface SyncStatusInputs {
  cluster: ClusterAccess;
  namespace: string;
  /** The commit the Bootstrap pushed (or found). */
  commit: string;
  /** Where to read the branch head, to accept a revision newer than `commit`. */
  git: { url: string; branch: string; credentials: GitCredentials };
  waitForReady: boolean;
  timeoutSeconds: number;
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface SyncStatusOutputs extends SyncStatusInputs {
  ready: boolean;
  /** `lastAppliedRevision`, e.g. `main@sha1:<sha>`; "" before the first apply. */
  revision: string;
  inventoryCount: number;
  conditions: Condition[];
}

interface KustomizationStatus {
  status?: {
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
    lastAppliedRevision?: string;
    inventory?: { entries?: unknown[] };
    observedGeneration?: number;
  };
  metadata?: { generation?: number };
}

export interface Observed {
  ready: boolean;
  revision: string;
  inventoryCount: number;
  conditions: Condition[];
  found: boolean;
}

export async function observe(cluster: Cluster, namespace: string): Promise<Observed> {
  const k = await cluster.get<KustomizationStatus & { apiVersion: string; kind: string }>("kustomize.toolkit.fluxcd.io/v1", "Kustomization", syncName, namespace);
  const conditions = (k?.status?.conditions ?? []).map((c) => ({ type: c.type ?? "", status: c.status ?? "", reason: c.reason ?? "", message: c.message ?? "" }));
  const current = k?.status?.observedGeneration === undefined || k.status.observedGeneration === k.metadata?.generation;
  return {
    found: k !== undefined,
    ready: current && conditions.some((c) => c.type === "Ready" && c.status === "True"),
    revision: k?.status?.lastAppliedRevision ?? "",
    inventoryCount: k?.status?.inventory?.entries?.length ?? 0,
    conditions,
  };
}

/** `main@sha1:abc…` → `abc…`; a bare sha stays. */
export function revisionSha(revision: string): string {
  const m = /(?:sha1:)?([0-9a-f]{40})$/.exec(revision);
  return m ? m[1]! : revision;
}

function summary(o: Observed): string {
  if (!o.found) return "the sync Kustomization does not exist";
  const ready = o.conditions.find((c) => c.type === "Ready");
  return ready ? `Ready=${ready.status} (${ready.reason}): ${ready.message}` : "no Ready condition yet (are the controllers running?)";
}

/** Ask the controllers to reconcile now (as `flux reconcile` does) instead of at the next interval. */
async function requestReconcile(cluster: Cluster, namespace: string): Promise<void> {
  const annotations = { "reconcile.fluxcd.io/requestedAt": new Date().toISOString() };
  await cluster.mergePatch("source.toolkit.fluxcd.io/v1", "GitRepository", syncName, namespace, { metadata: { annotations } });
  await cluster.mergePatch("kustomize.toolkit.fluxcd.io/v1", "Kustomization", syncName, namespace, { metadata: { annotations } });
}

async function waitReady(inputs: SyncStatusInputs): Promise<Observed> {
  const cluster = Cluster.of(inputs.cluster);
  await requestReconcile(cluster, inputs.namespace);
  const deadline = Date.now() + inputs.timeoutSeconds * 1000;
  let head: string | undefined;
  let headCheckedAt = 0;
  for (;;) {
    const o = await observe(cluster, inputs.namespace);
    if (o.ready && o.revision) {
      const sha = revisionSha(o.revision);
      if (sha === inputs.commit) return o;
      // Someone pushed after us: the branch head is the revision to converge to.
      if (Date.now() - headCheckedAt > 2000) {
        head = await readRemoteHead(inputs.git).catch(() => head);
        headCheckedAt = Date.now();
      }
      if (head !== undefined && head !== inputs.commit && sha === head) return o;
    }
    if (Date.now() > deadline) {
      throw new Error(`Kustomization ${inputs.namespace}/${syncName} not Ready at ${inputs.commit.slice(0, 12)} within ${inputs.timeoutSeconds}s: ${summary(o)}; last applied revision "${o.revision}"`);
    }
    await sleep(500);
  }
}

async function settle(inputs: SyncStatusInputs): Promise<SyncStatusOutputs> {
  const o = inputs.waitForReady ? await waitReady(inputs) : await observe(Cluster.of(inputs.cluster), inputs.namespace);
  return { ...inputs, ready: o.ready, revision: o.revision, inventoryCount: o.inventoryCount, conditions: o.conditions };
}

export async function create(inputs: SyncStatusInputs): Promise<{ id: string; outs: SyncStatusOutputs }> {
  return { id: `${inputs.namespace}/${syncName}`, outs: await settle(inputs) };
}

export function diff(olds: SyncStatusOutputs, news: SyncStatusInputs): { changes: boolean; replaces: string[] } {
  const changed = (["commit", "namespace", "waitForReady", "timeoutSeconds"] as const).some((k) => olds[k] !== news[k]) || JSON.stringify(olds.cluster) !== JSON.stringify(news.cluster);
  // Not ready when last seen and readiness is asked for: wait again.
  return { changes: changed || (news.waitForReady && !olds.ready), replaces: [] };
}

export async function update(_olds: SyncStatusOutputs, news: SyncStatusInputs): Promise<SyncStatusOutputs> {
  return settle(news);
}

export async function read(id: string, props: SyncStatusOutputs): Promise<{ id: string; props: SyncStatusOutputs }> {
  const o = await observe(Cluster.of(props.cluster), props.namespace);
  return { id, props: { ...props, ready: o.ready, revision: o.revision, inventoryCount: o.inventoryCount, conditions: o.conditions } };
}

/** An observation owns nothing in the cluster: deleting it removes nothing. */
export async function remove(): Promise<void> {}
