// The cluster side of day-0: the install and the sync objects, applied once. After that the controllers own
// the install (it is in git): an update re-applies only when the install is gone (a rebuilt cluster); a create
// on a cluster that has it adopts it. Delete uninstalls the controllers without letting them prune anything.
// The namespace and the credentials Secret are the component's @pulumi/kubernetes resources.
import { allControllers, syncName, type InstallOptions, type SyncOptions } from "../../bootstrap";
import { GitRepositoryKind, KustomizationKind } from "../../controllers/api";
import { poll } from "../../controllers/api/wait";
import { Cluster, type ClusterAccess } from "./kube";
import { installObjects, syncObjects } from "./render";

export interface ClusterInstallInputs {
  cluster: ClusterAccess;
  install: InstallOptions;
  sync: SyncOptions;
  /** How long to wait for the CRDs and the uninstall. */
  timeoutSeconds: number;
}

export interface ClusterInstallOutputs extends ClusterInstallInputs {
  /** The install was there (last create/update/refresh). */
  installed: boolean;
  /** The last create found an install and adopted it instead of applying. */
  adopted: boolean;
  /** Objects applied by the last apply. */
  applied: number;
}

const kustomizationApi = { apiVersion: KustomizationKind.apiVersion, kind: KustomizationKind.kind };
const crdName = (kind: { plural: string; group: string }): string => `${kind.plural}.${kind.group}`;
const crdApi = { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition" };

function namespaceOf(inputs: Pick<ClusterInstallInputs, "install">): string {
  return inputs.install.namespace ?? "flux-system";
}

/** Whether the cluster has the install: namespace, Kustomization CRD, the controllers and the sync object. */
export async function installPresent(cluster: Cluster, inputs: Pick<ClusterInstallInputs, "install">): Promise<boolean> {
  const ns = namespaceOf(inputs);
  if (!(await cluster.get("v1", "Namespace", ns))) return false;
  if (!(await cluster.get(crdApi.apiVersion, crdApi.kind, crdName(KustomizationKind)))) return false;
  if (!(await cluster.get(crdApi.apiVersion, crdApi.kind, crdName(GitRepositoryKind)))) return false;
  if (!(await cluster.get(kustomizationApi.apiVersion, kustomizationApi.kind, syncName, ns))) return false;
  return (await cluster.list("apps/v1", "Deployment", ns, "app.kubernetes.io/part-of=flux")).length > 0;
}

async function waitEstablished(cluster: Cluster, names: string[], deadline: number): Promise<void> {
  for (const name of names) {
    await poll(
      async () => {
        const crd = await cluster.get<{ apiVersion: string; kind: string; status?: { conditions?: { type: string; status: string }[] } }>(crdApi.apiVersion, crdApi.kind, name);
        return crd?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
      },
      { intervalMs: 200, deadline, timeoutError: () => new Error(`CustomResourceDefinition ${name} not Established in time`) },
    );
  }
}

/** Apply everything: namespace, CRDs (then wait until served), the rest, the Secret, the sync objects. */
async function applyAll(cluster: Cluster, inputs: ClusterInstallInputs): Promise<number> {
  const deadline = Date.now() + inputs.timeoutSeconds * 1000;
  const objects = installObjects(inputs.install);
  const crds = objects.filter((o) => o.kind === "CustomResourceDefinition");
  const rest = objects.filter((o) => o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace");
  const ordered = [...objects.filter((o) => o.kind === "Namespace"), ...crds];
  for (const o of ordered) await cluster.apply(o);
  await waitEstablished(cluster, crds.map((c) => c.metadata.name), deadline);
  for (const o of rest) await cluster.apply(o);
  const sync = syncObjects(inputs.sync);
  for (const o of sync) await cluster.apply(o);
  return objects.length + sync.length;
}

export async function create(inputs: ClusterInstallInputs): Promise<{ id: string; outs: ClusterInstallOutputs }> {
  const cluster = Cluster.of(inputs.cluster);
  const id = namespaceOf(inputs);
  if (await installPresent(cluster, inputs)) {
    // Adopt: what runs belongs to the controllers and the repository.
    return { id, outs: { ...inputs, installed: true, adopted: true, applied: 0 } };
  }
  const applied = await applyAll(cluster, inputs);
  return { id, outs: { ...inputs, installed: true, adopted: false, applied } };
}

export async function diff(olds: ClusterInstallOutputs, news: ClusterInstallInputs): Promise<{ changes: boolean; replaces: string[]; detailedDiff: Record<string, { kind: "update" | "update-replace" }> }> {
  const detailedDiff: Record<string, { kind: "update" | "update-replace" }> = {};
  const replaces: string[] = [];
  if (namespaceOf(olds) !== namespaceOf(news)) {
    replaces.push("install.namespace");
    detailedDiff["install.namespace"] = { kind: "update-replace" };
  }
  if (JSON.stringify(olds.cluster) !== JSON.stringify(news.cluster)) detailedDiff.cluster = { kind: "update" };
  // Version, components and intervals are the repository's business (a new commit), not a change here.
  // What is: an install that is gone from the cluster.
  try {
    if (!(await installPresent(Cluster.of(news.cluster), news))) detailedDiff.installed = { kind: "update" };
  } catch (err) {
    throw new Error(`cannot read the cluster to compare the install: ${(err as Error).message}`);
  }
  return { changes: Object.keys(detailedDiff).length > 0, replaces, detailedDiff };
}

export async function update(olds: ClusterInstallOutputs, news: ClusterInstallInputs): Promise<ClusterInstallOutputs> {
  const cluster = Cluster.of(news.cluster);
  if (!(await installPresent(cluster, news))) {
    const applied = await applyAll(cluster, news);
    return { ...news, installed: true, adopted: false, applied };
  }
  return { ...news, installed: true, adopted: olds.adopted, applied: olds.applied };
}

export async function read(id: string, props: ClusterInstallOutputs): Promise<{ id: string; props: ClusterInstallOutputs }> {
  const installed = await installPresent(Cluster.of(props.cluster), props);
  return { id, props: { ...props, installed } };
}

/** The kinds the install serves (every controller's CRDs), as apiVersion and kind. */
function servedKinds(install: InstallOptions): { apiVersion: string; kind: string }[] {
  return installObjects({ ...install, controllers: allControllers, networkPolicy: true })
    .filter((o) => o.kind === "CustomResourceDefinition")
    .map((o) => {
      const spec = (o as unknown as { spec: { group: string; names: { kind: string }; versions: { name: string; storage?: boolean }[] } }).spec;
      const version = spec.versions.find((v) => v.storage) ?? spec.versions[0]!;
      return { apiVersion: `${spec.group}/${version.name}`, kind: spec.names.kind };
    });
}

/**
 * Suspend every Kustomization and HelmRelease (a suspended one is never pruned or uninstalled on deletion),
 * then drop the finalizers of every object of the served kinds, so no CRD waits on a controller that is gone.
 */
async function disarm(cluster: Cluster, install: InstallOptions, finalizersOnly: boolean): Promise<void> {
  const suspendFirst = new Set([kustomizationApi.kind, "HelmRelease"]);
  for (const api of servedKinds(install)) {
    const items = await cluster.list<{ apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string; finalizers?: string[] }; spec?: { suspend?: boolean } }>(api.apiVersion, api.kind);
    for (const item of items) {
      const name = item.metadata?.name ?? "";
      const namespace = item.metadata?.namespace;
      if (suspendFirst.has(api.kind) && !finalizersOnly && item.spec?.suspend !== true) {
        await cluster.mergePatch(api.apiVersion, api.kind, name, namespace, { spec: { suspend: true } });
      }
      if ((item.metadata?.finalizers ?? []).length > 0 || (!finalizersOnly && suspendFirst.has(api.kind))) {
        await cluster.mergePatch(api.apiVersion, api.kind, name, namespace, { metadata: { finalizers: null } });
      }
    }
  }
}

/** Uninstall: disarm, remove the controllers and their RBAC, drop the CRDs (their objects go with them). */
export async function remove(props: ClusterInstallOutputs): Promise<void> {
  const cluster = Cluster.of(props.cluster);
  const ns = namespaceOf(props);
  const deadline = Date.now() + props.timeoutSeconds * 1000;
  await disarm(cluster, props.install, false);
  // Every object any component set could have installed, whatever the current inputs say.
  const everything = installObjects({ ...props.install, controllers: allControllers, networkPolicy: true });
  const crds = everything.filter((o) => o.kind === "CustomResourceDefinition");
  const workloads = everything.filter((o) => o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace");
  for (const o of workloads) await cluster.delete(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);
  await disarm(cluster, props.install, true);
  for (const crd of crds) await cluster.delete(crd.apiVersion, crd.kind, crd.metadata.name);
  let left: string[] = [];
  await poll(
    async () => {
      left = [];
      for (const crd of crds) if (await cluster.get(crdApi.apiVersion, crdApi.kind, crd.metadata.name)) left.push(crd.metadata.name);
      if (left.length === 0) return true;
      await disarm(cluster, props.install, true);
      return false;
    },
    { intervalMs: 250, deadline, timeoutError: () => new Error(`CustomResourceDefinitions not removed in time: ${left.join(", ")}`) },
  );
  await removeNamespaceWhenEmpty(cluster, ns, props.sync.secretName ?? syncName);
}

/**
 * The namespace goes only when nothing but Kubernetes' own objects and the credentials Secret (the
 * component's, deleted right after this) is left in it: workloads stay.
 */
async function removeNamespaceWhenEmpty(cluster: Cluster, ns: string, credentials: string): Promise<void> {
  const kinds: [string, string][] = [
    ["apps/v1", "Deployment"],
    ["apps/v1", "StatefulSet"],
    ["apps/v1", "DaemonSet"],
    ["batch/v1", "Job"],
    ["v1", "Service"],
    ["v1", "ConfigMap"],
    ["v1", "Secret"],
    ["v1", "PersistentVolumeClaim"],
  ];
  for (const [apiVersion, kind] of kinds) {
    const items = await cluster.list<{ metadata?: { name?: string }; type?: string }>(apiVersion, kind, ns);
    const foreign = items.filter((i) => !(kind === "ConfigMap" && i.metadata?.name === "kube-root-ca.crt") && !(kind === "Secret" && (i.type === "kubernetes.io/service-account-token" || i.metadata?.name === credentials)));
    if (foreign.length > 0) return;
  }
  await cluster.delete("v1", "Namespace", ns);
}
