// The kustomize-controller: the Kustomization reconciler wired into a Manager, watching its sources (a new
// artifact), the Kustomizations it depends on (Ready at a new revision), the ConfigMaps and Secrets labelled
// reconcile.fluxcd.io/watch: Enabled that it uses, and the drift of what it applied.
import type { KubeConfig } from "@kubernetes/client-node";
import { isImpersonating, type ClusterConfig } from "../runtime/kubeconfig";
import { ArtifactCache } from "./artifactcache";
import type { Manager } from "../runtime/manager";
import { KubeClient, type KubeObject, type ResourceRef } from "../runtime/kube";
import { objectKey, type Informer, type InformerEvent } from "../runtime/informer";
import type { EventSource } from "../runtime/builder";
import { getCondition } from "../runtime/conditions";
import { GitRepositoryKind, type GitRepository } from "../api/source";
import { BucketKind, type Bucket } from "../api/source-bucket";
import { ExternalArtifactKind, type ExternalArtifact } from "../api/source-external";
import { KustomizationKind, type Kustomization } from "../api/kustomize";
import { ReadyCondition, WatchEnabledValue, WatchLabel } from "../api/meta";
import { parseDuration } from "../api/duration";
import { KustomizationReconciler, kustomizationErrorPolicy, reconcileTimeoutMs } from "./reconciler";
import { ConfigDependents, watchedConfigChanged, type ConfigKind } from "./watch";
import { RestMapper } from "./restmapper";
import { DriftWatcher, type DriftEvent } from "./drift";
import { sourceKey, type SourceObject } from "./source";

export { KustomizationReconciler, KustomizeFinalizer } from "./reconciler";
export { DriftWatcher } from "./drift";

/**
 * Reconciles at once by default (--concurrent; Flux's is 4). A reconcile mostly waits for the apiserver, so
 * many in flight keep a burst moving; the CPU- and memory-heavy part, kustomize processes, has its own limit
 * (maxKustomizeProcesses in build.ts).
 */
export const defaultKustomizeConcurrency = 40;

export interface KustomizeControllerOptions {
  /** The controller's cluster configuration (impersonating clients are derived from it). */
  kubeConfig: ClusterConfig;
  /** Path of the kustomize binary (default "kustomize" from PATH). */
  kustomizePath?: string;
  concurrent?: number;
  /** Refuse sourceRefs in other namespaces (--no-cross-namespace-refs). */
  noCrossNamespaceRefs?: boolean;
  /** Refuse remote bases in kustomizations (--no-remote-bases). */
  noRemoteBases?: boolean;
  /** ServiceAccount impersonated when spec.serviceAccountName is empty (--default-service-account). */
  defaultServiceAccount?: string;
  /** Requeue interval while dependencies are not ready (--requeue-dependency, default 30s). */
  requeueDependency?: string;
  /** Fail on variables without value or default (Flux's StrictPostBuildSubstitutions feature gate). */
  strictSubstitutions?: boolean;
  /** Watch applied objects and reconcile on drift (--drift-watch, default true). */
  driftWatch?: boolean;
  /**
   * End a health check when the source has a new revision and reconcile that one at once
   * (--cancel-health-check-on-new-revision, default true; Flux's CancelHealthCheckOnNewRevision feature gate).
   */
  cancelHealthCheckOnNewRevision?: boolean;
  /** Check a dependency's Ready condition after its readyExpr as well (Flux's AdditiveCELDependencyCheck feature gate, default false). */
  additiveCelDependencyCheck?: boolean;
}

export interface KustomizeControllerHandle {
  drift?: DriftWatcher;
  /** Drift events seen, in order (for logs, metrics and tests). */
  driftEvents: DriftEvent[];
}

export function addKustomizeController(mgr: Manager, o: KustomizeControllerOptions): KustomizeControllerHandle {
  const kustomizations = mgr.informer<Kustomization>(KustomizationKind.resource);
  const gitRepositories = mgr.informer<GitRepository>(GitRepositoryKind.resource);
  const externalArtifacts = mgr.informer<ExternalArtifact>(ExternalArtifactKind.resource);
  const mapper = new RestMapper(mgr.client);
  const impersonating = new Map<string, Promise<KubeClient>>();
  const clientFor = (sa: string | undefined, namespace: string): Promise<KubeClient> => {
    if (!sa) return Promise.resolve(mgr.client);
    const user = `system:serviceaccount:${namespace}:${sa}`;
    let c = impersonating.get(user);
    if (!c) {
      c = impersonatingClient(o.kubeConfig, user);
      impersonating.set(user, c);
    }
    return c;
  };
  const driftEvents: DriftEvent[] = [];
  const drift = o.driftWatch === false ? undefined : new DriftWatcher(mgr.client, mgr.log.child({ controller: "kustomization", component: "drift" }));
  drift?.subscribe((ev) => {
    driftEvents.push(ev);
    if (driftEvents.length > 1000) driftEvents.shift();
  });
  const reconciler = new KustomizationReconciler({
    kustomizePath: o.kustomizePath ?? "kustomize",
    noCrossNamespaceRefs: o.noCrossNamespaceRefs === true,
    noRemoteBases: o.noRemoteBases === true,
    strictSubstitutions: o.strictSubstitutions === true,
    cancelHealthCheckOnNewRevision: o.cancelHealthCheckOnNewRevision !== false,
    additiveCelDependencyCheck: o.additiveCelDependencyCheck === true,
    defaultServiceAccount: o.defaultServiceAccount,
    requeueDependencyMs: parseDuration(o.requeueDependency ?? "30s"),
    mapper,
    clientFor,
    lookupKustomization: (key) => kustomizations.get(key),
    lookupSource: (kind, key) => (kind === "GitRepository" ? (gitRepositories.get(key) as SourceObject | undefined) : kind === "ExternalArtifact" ? (externalArtifacts.get(key) as SourceObject | undefined) : undefined),
    drift,
    artifacts: new ArtifactCache(),
  });
  const builder = mgr
    .controller<Kustomization>(KustomizationKind, {
      name: "kustomization",
      // Reconciles wait on the apiserver, not on this process: more in flight costs little memory and keeps the
      // apiserver busy (Flux's default is 4; its benchmark tunes it to 20).
      concurrency: o.concurrent ?? defaultKustomizeConcurrency,
      // The reconciler's own limit is spec.timeout; this one only bounds a reconcile stuck past it.
      reconcileTimeoutMs: (ks) => reconcileTimeoutMs(ks) + 60_000,
    })
    .index(sourceIndex, (ks) => [sourceKey(ks)])
    .index(dependsOnIndex, (ks) => (ks.spec.dependsOn ?? []).map((d) => `${d.namespace || ks.metadata.namespace}/${d.name}`))
    // A source's new artifact makes the Kustomizations that use it reconcile.
    .watches<GitRepository>(GitRepositoryKind, (repo, old, event) => (event !== "delete" && repo.status?.artifact?.revision !== old?.status?.artifact?.revision ? [`GitRepository/${objectKey(repo)}`] : []), { via: sourceIndex })
    .watches<Bucket>(BucketKind, (b, old, event) => (event !== "delete" && b.status?.artifact?.revision !== old?.status?.artifact?.revision ? [`Bucket/${objectKey(b)}`] : []), { via: sourceIndex })
    .watches<ExternalArtifact>(ExternalArtifactKind, (ea, old, event) => (event !== "delete" && ea.status?.artifact?.revision !== old?.status?.artifact?.revision ? [`ExternalArtifact/${objectKey(ea)}`] : []), { via: sourceIndex })
    // A Kustomization that became Ready (or applied a new revision) releases the ones waiting on it.
    .watches<Kustomization>(KustomizationKind, (ks, old, event) => (event !== "delete" && readyAtNewRevision(ks, old) ? [objectKey(ks)] : []), { via: dependsOnIndex })
    // A labelled ConfigMap or Secret that changed makes the Kustomizations that use it reconcile.
    .watches(watchedConfigs(mgr, kustomizations), (change) => change.dependents)
    .errorPolicy(kustomizationErrorPolicy);
  // Drift of an applied object makes its Kustomization reconcile at once.
  if (drift) builder.watches(drift, (ev) => [ev.owner]);
  builder.complete(reconciler);
  if (drift) mgr.addRunnable((signal) => drift.run(signal));
  return { drift, driftEvents };
}

/** A change of a watched ConfigMap or Secret, with the Kustomizations ("<namespace>/<name>") that use it. */
interface ConfigChange {
  kind: ConfigKind;
  key: string;
  dependents: string[];
}

const configRefs: Record<ConfigKind, ResourceRef> = {
  ConfigMap: { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true },
  Secret: { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true },
};

/** The cache of a watched ConfigMap or Secret holds its identity and labels only: never a Secret's data. */
const metadataOnly = (obj: KubeObject): KubeObject => {
  const { name, namespace, uid, resourceVersion, labels } = obj.metadata;
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name, namespace, uid, resourceVersion, labels } };
};

/**
 * Changes of the ConfigMaps and Secrets labelled reconcile.fluxcd.io/watch: Enabled (informers selecting that
 * label, so the controller never lists other Secrets), each mapped to the Kustomizations that use it. Who uses
 * what is kept in step with the Kustomizations' own events, so no event scans the cache.
 */
function watchedConfigs(mgr: Manager, kustomizations: Informer<Kustomization>): EventSource<ConfigChange> {
  const dependents = new ConfigDependents();
  kustomizations.on((event, ks) => (event === "delete" ? dependents.delete(objectKey(ks)) : dependents.set(ks)));
  return {
    subscribe(handler) {
      for (const kind of ["ConfigMap", "Secret"] as const) {
        const informer = mgr.informer(configRefs[kind], { labelSelector: `${WatchLabel}=${WatchEnabledValue}`, keep: metadataOnly });
        informer.on((event: InformerEvent, obj, old) => {
          const changed = event === "delete" ? watchedConfigChanged(obj, undefined) : watchedConfigChanged(event === "add" ? undefined : old, obj);
          if (!changed) return;
          const users = dependents.dependentsOf(kind, obj.metadata.namespace ?? "", obj.metadata.name);
          if (users.length) handler({ kind, key: objectKey(obj), dependents: users });
        });
      }
    },
  };
}

/** Index of Kustomizations by their source ("GitRepository/namespace/name"). */
const sourceIndex = "source";
/** Index of Kustomizations by the Kustomizations they depend on ("namespace/name"). */
const dependsOnIndex = "dependsOn";

function readyAtNewRevision(ks: Kustomization, old: Kustomization | undefined): boolean {
  const ready = (k?: Kustomization) => (k ? getCondition(k, ReadyCondition)?.status === "True" : false);
  return ready(ks) && !(ready(old) && old?.status?.lastAppliedRevision === ks.status?.lastAppliedRevision);
}

/** A client that authenticates as the controller and impersonates user (e.g. a ServiceAccount). */
async function impersonatingClient(config: ClusterConfig, user: string): Promise<KubeClient> {
  if (isImpersonating(config)) return new KubeClient(config.impersonating(user));
  const kc = config as KubeConfig; // client-node's, for users only it supports
  const { KubeConfig } = await import("@kubernetes/client-node");
  const copy = new KubeConfig();
  const currentUser = kc.getCurrentUser();
  copy.loadFromOptions({
    clusters: kc.getClusters(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
    users: kc.getUsers().map((u) => (u.name === currentUser?.name ? { ...u, impersonateUser: user } : u)),
  });
  return new KubeClient(copy);
}
