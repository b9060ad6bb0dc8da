// The sync Kustomization's status as Pulumi outputs. With waitForReady, create/update wait until it is
// Ready at the commit Pulumi made (or a later head of the branch: someone may push meanwhile).
import { readRemoteHead, syncName, type GitCredentials } from "../../bootstrap";
import { GitRepositoryKind, KustomizationKind, ReadyCondition, ReconcileRequestAnnotation } from "../../controllers/api";
import { poll } from "../../controllers/api/wait";
import { Cluster, type ClusterAccess } from "./kube";

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
  const k = await cluster.get<KustomizationStatus & { apiVersion: string; kind: string }>(KustomizationKind.apiVersion, KustomizationKind.kind, syncName, namespace);
  const conditions = (k?.status?.conditions ?? []).map((c) => ({ type: c.type ?? "", status: c.status ?? "", reason: c.reason ?? "", message: c.message ?? "" }));
  const current = k?.status?.observedGeneration === undefined || k.status.observedGeneration === k.metadata?.generation;
  return {
    found: k !== undefined,
    ready: current && conditions.some((c) => c.type === ReadyCondition && c.status === "True"),
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
  const ready = o.conditions.find((c) => c.type === ReadyCondition);
  return ready ? `Ready=${ready.status} (${ready.reason}): ${ready.message}` : "no Ready condition yet (are the controllers running?)";
}

/** Ask the controllers to reconcile now (as `flux reconcile` does) instead of at the next interval. */
async function requestReconcile(cluster: Cluster, namespace: string): Promise<void> {
  const annotations = { [ReconcileRequestAnnotation]: new Date().toISOString() };
  await cluster.mergePatch(GitRepositoryKind.apiVersion, GitRepositoryKind.kind, syncName, namespace, { metadata: { annotations } });
  await cluster.mergePatch(KustomizationKind.apiVersion, KustomizationKind.kind, syncName, namespace, { metadata: { annotations } });
}

async function waitReady(inputs: SyncStatusInputs): Promise<Observed> {
  const cluster = Cluster.of(inputs.cluster);
  await requestReconcile(cluster, inputs.namespace);
  const deadline = Date.now() + inputs.timeoutSeconds * 1000;
  let head: string | undefined;
  let headCheckedAt = 0;
  let last: Observed | undefined;
  return poll(
    async () => {
      const o = (last = await observe(cluster, inputs.namespace));
      if (!o.ready || !o.revision) return undefined;
      const sha = revisionSha(o.revision);
      if (sha === inputs.commit) return o;
      // Someone pushed after us: the branch head is the revision to converge to.
      if (Date.now() - headCheckedAt > 2000) {
        head = await readRemoteHead(inputs.git).catch(() => head);
        headCheckedAt = Date.now();
      }
      return head !== undefined && head !== inputs.commit && sha === head ? o : undefined;
    },
    {
      intervalMs: 500,
      deadline,
      timeoutError: () =>
        new Error(`Kustomization ${inputs.namespace}/${syncName} not Ready at ${inputs.commit.slice(0, 12)} within ${inputs.timeoutSeconds}s: ${last ? summary(last) : "not read"}; last applied revision "${last?.revision ?? ""}"`),
    },
  );
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
