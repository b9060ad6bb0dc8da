// The helm-controller: the HelmRelease reconciler wired into a Manager, with the Helm helper process, watching
// the chart sources (a new artifact), the HelmReleases and Kustomizations others depend on, and the labelled
// ConfigMaps and Secrets used as values.
import type { Manager } from "../runtime/manager";
import { objectKey } from "../runtime/informer";
import { StaticKubeConfig, type ClusterConfig } from "../runtime/kubeconfig";
import { getCondition, type Condition } from "../runtime/conditions";
import { HelmNameLabel, HelmNamespaceLabel, HelmReleaseKind, type HelmRelease } from "../api/helm";
import { KustomizationKind, type Kustomization } from "../api/kustomize";
import { ReadyCondition } from "../api/meta";
import { parseDuration } from "../api/duration";
import { HelmReleaseReconciler, helmReleaseErrorPolicy } from "./reconciler";
import { ChartCache, ExternalArtifactRef, HelmChartRef, OCIRepositoryRef, chartSourceOf, sourceIdKey, type ChartSource } from "./chart";
import { dependencyKey, dependencyKind } from "./dependencies";
import { HelmHelper, connectionOf, type HelmConnection } from "./helper";
import { readFileSync } from "node:fs";
import { DriftWatcher, type DriftEvent } from "../kustomize/drift";
import { RestMapper } from "../kustomize/restmapper";

export { HelmReleaseReconciler } from "./reconciler";
export { HelmHelper } from "./helper";

export interface HelmControllerOptions {
  kubeConfig: ClusterConfig;
  /** Path of the mooring-helm helper binary (--helm-helper-path; default mooring-helm from PATH). */
  helperPath?: string;
  concurrent?: number;
  /** ServiceAccount impersonated when spec.serviceAccountName is empty (--default-service-account). */
  defaultServiceAccount?: string;
  noCrossNamespaceRefs?: boolean;
  requeueDependency?: string;
  /** Directory of the downloaded chart artifacts (default <tmp>/mooring-helm/charts). */
  chartCacheDir?: string;
}

export interface HelmControllerHandle {
  helper: HelmHelper;
  drift: DriftWatcher;
  /** Drift events seen, in order (for logs and tests). */
  driftEvents: DriftEvent[];
}

const sourceIndex = "chartSource";
const dependsOnIndex = "dependsOn";

export function addHelmController(mgr: Manager, o: HelmControllerOptions): HelmControllerHandle {
  const helper = new HelmHelper({ path: o.helperPath ?? "mooring-helm", connection: helperConnection(o.kubeConfig), log: mgr.log.child({ controller: "helmrelease", component: "helm" }) });
  const releases = mgr.informer<HelmRelease>(HelmReleaseKind.resource);
  const kustomizations = mgr.informer<Kustomization>(KustomizationKind.resource);
  const helmCharts = mgr.informer<ChartSource>(HelmChartRef);
  const ociRepositories = mgr.informer<ChartSource>(OCIRepositoryRef);
  // The objects of releases with driftDetection on, selected by the labels the release puts on them.
  const drift = new DriftWatcher(mgr.client, mgr.log.child({ controller: "helmrelease", component: "drift" }), { name: HelmNameLabel, namespace: HelmNamespaceLabel });
  const driftEvents: DriftEvent[] = [];
  drift.subscribe((ev) => {
    driftEvents.push(ev);
    if (driftEvents.length > 1000) driftEvents.shift();
  });
  const externalArtifacts = mgr.informer<ChartSource>(ExternalArtifactRef);
  const reconciler = new HelmReleaseReconciler({
    helper,
    drift,
    mapper: new RestMapper(mgr.client),
    charts: new ChartCache(o.chartCacheDir),
    defaultServiceAccount: o.defaultServiceAccount,
    noCrossNamespaceRefs: o.noCrossNamespaceRefs,
    requeueDependencyMs: parseDuration(o.requeueDependency ?? "5s"),
    lookupDependency: (kind, key) => (kind === "HelmRelease" ? releases.get(key) : kustomizations.get(key)),
    lookupSource: (id) => (id.kind === "HelmChart" ? helmCharts : id.kind === "ExternalArtifact" ? externalArtifacts : ociRepositories).get(`${id.namespace}/${id.name}`),
  });
  const sourceChanged = (src: ChartSource, old: ChartSource | undefined, event: string) =>
    event !== "delete" && (src.status?.artifact?.digest !== old?.status?.artifact?.digest || readyChanged(src, old)) ? [`${src.kind}/${objectKey(src)}`] : [];
  mgr
    .controller<HelmRelease>(HelmReleaseKind, {
      name: "helmrelease",
      // Helm actions mostly wait on the cluster (hooks, readiness): many at once cost little CPU here.
      // (Helm's wait polls every 2 s: with 10 at once, 1000 releases could not be Ready in under 200 s.)
      concurrency: o.concurrent ?? 50,
      reconcileTimeoutMs: (hr) => 4 * (parseDuration(hr.spec.timeout ?? "5m") || 300_000) + 60_000,
    })
    .index(sourceIndex, (hr) => {
      try {
        return [sourceIdKey(chartSourceOf(hr))];
      } catch {
        return [];
      }
    })
    .index(dependsOnIndex, (hr) => (hr.spec.dependsOn ?? []).map((d) => `${dependencyKind(d)}/${dependencyKey(hr, d)}`))
    .watches<ChartSource>({ resource: HelmChartRef }, (src, old, event) => sourceChanged({ ...src, kind: "HelmChart" }, old, event), { via: sourceIndex })
    .watches<ChartSource>({ resource: OCIRepositoryRef }, (src, old, event) => sourceChanged({ ...src, kind: "OCIRepository" }, old, event), { via: sourceIndex })
    .watches<ChartSource>({ resource: ExternalArtifactRef }, (src, old, event) => sourceChanged({ ...src, kind: "ExternalArtifact" }, old, event), { via: sourceIndex })
    .watches<HelmRelease>(HelmReleaseKind, (hr, old, event) => (event !== "delete" && becameReady(hr, old) ? [`HelmRelease/${objectKey(hr)}`] : []), { via: dependsOnIndex })
    .watches<Kustomization>(KustomizationKind, (ks, old, event) => (event !== "delete" && becameReady(ks, old) ? [`Kustomization/${objectKey(ks)}`] : []), { via: dependsOnIndex })
    // A change to an object of a release with drift detection on reconciles the release at once.
    .watches(drift, (ev) => [ev.owner])
    .errorPolicy(helmReleaseErrorPolicy)
    .complete(reconciler);
  mgr.addRunnable((signal) => drift.run(signal));
  mgr.addRunnable(async (signal) => {
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    await helper.stop();
  });
  return { helper, drift, driftEvents };
}

/** Client-node's view of a kubeconfig (the parts the helper's connection needs). */
interface ClientNodeConfig {
  getCurrentCluster(): { server: string; caData?: string; caFile?: string; skipTLSVerify?: boolean; tlsServerName?: string } | null;
  getCurrentUser(): { token?: string; certData?: string; keyData?: string; username?: string; password?: string; impersonateUser?: string } | null;
}

/** The Helm helper connects as the controller does: the same server, CA and credentials. */
function helperConnection(config: ClusterConfig): HelmConnection {
  if (config instanceof StaticKubeConfig) return connectionOf(config.credentials);
  const kc = config as unknown as Partial<ClientNodeConfig>;
  const cluster = kc.getCurrentCluster?.();
  const user = kc.getCurrentUser?.();
  if (!cluster || !user || !(user.token || user.certData || user.username)) {
    throw new Error("the helm-controller needs a kubeconfig with certificates, a token or basic auth (exec plugins and auth providers are not supported)");
  }
  const ca = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString("base64") : undefined);
  return {
    server: cluster.server,
    caData: ca,
    insecure: cluster.skipTLSVerify,
    tlsServerName: cluster.tlsServerName,
    token: user.token,
    certData: user.certData,
    keyData: user.keyData,
    username: user.username,
    password: user.password,
    impersonate: user.impersonateUser,
  };
}

type WithReady = { metadata: { generation?: number }; status?: { conditions?: Condition[]; observedGeneration?: number } };

function readyChanged(a: WithReady, b: WithReady | undefined): boolean {
  return getCondition(a, ReadyCondition)?.status !== (b ? getCondition(b, ReadyCondition)?.status : undefined);
}

function becameReady(obj: WithReady, old: WithReady | undefined): boolean {
  const ready = (o?: WithReady) => (o ? getCondition(o, ReadyCondition)?.status === "True" && o.status?.observedGeneration === o.metadata.generation : false);
  return ready(obj) && !ready(old);
}
