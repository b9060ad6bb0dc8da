// Where a HelmRelease's chart comes from: spec.chartRef (an OCIRepository or HelmChart) or spec.chart (a
// template: the controller keeps the HelmChart "<namespace>-<name>" in the source's namespace, as Flux does).
// The chart artifact is downloaded once per digest into a local cache, as a file the Helm helper loads.
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ReconcileError } from "../runtime/errors";
import type { Condition } from "../runtime/conditions";
import { isNotFound, type KubeClient, type ResourceRef } from "../runtime/kube";
import { downloadArtifact } from "../kustomize/artifact";
import { ArtifactFailedReason, SourceGroup, type Artifact } from "../api/source";
import { HelmNameLabel, HelmNamespaceLabel, type HelmRelease } from "../api/helm";

export const HelmChartRef: ResourceRef = { kind: "HelmChart", group: SourceGroup, version: "v1", plural: "helmcharts", namespaced: true };
export const OCIRepositoryRef: ResourceRef = { kind: "OCIRepository", group: SourceGroup, version: "v1", plural: "ocirepositories", namespaced: true };
export const ExternalArtifactRef: ResourceRef = { kind: "ExternalArtifact", group: SourceGroup, version: "v1", plural: "externalartifacts", namespaced: true };

export interface ChartSource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: { artifact?: Artifact; observedGeneration?: number; conditions?: Condition[] };
}

/** The source a HelmRelease reads its chart from: kind, namespace and name. */
export interface SourceId {
  kind: "HelmChart" | "OCIRepository" | "ExternalArtifact";
  namespace: string;
  name: string;
}

export const sourceIdKey = (id: SourceId): string => `${id.kind}/${id.namespace}/${id.name}`;

/** The source of the chart; a template names the HelmChart the controller makes from it. */
export function chartSourceOf(hr: HelmRelease): SourceId {
  const ns = hr.metadata.namespace!;
  if (hr.spec.chartRef) {
    const { kind, name, namespace } = hr.spec.chartRef;
    if (kind !== "HelmChart" && kind !== "OCIRepository" && kind !== "ExternalArtifact") {
      throw new ReconcileError(ArtifactFailedReason, `chartRef kind '${kind}' is not supported (OCIRepository, HelmChart or ExternalArtifact)`, { stalled: true });
    }
    return { kind, namespace: namespace || ns, name };
  }
  if (hr.spec.chart) return { kind: "HelmChart", namespace: hr.spec.chart.spec.sourceRef.namespace || ns, name: `${ns}-${hr.metadata.name}` };
  throw new ReconcileError(ArtifactFailedReason, "spec.chart or spec.chartRef must be set", { stalled: true });
}

/** The HelmChart a spec.chart template asks for, as the controller applies it (server-side, its own fields). */
export function helmChartFor(hr: HelmRelease): ChartSource {
  const tpl = hr.spec.chart!;
  const id = chartSourceOf(hr);
  const spec: Record<string, unknown> = {
    chart: tpl.spec.chart,
    version: tpl.spec.version || "*",
    sourceRef: { kind: tpl.spec.sourceRef.kind, name: tpl.spec.sourceRef.name, ...(tpl.spec.sourceRef.apiVersion ? { apiVersion: tpl.spec.sourceRef.apiVersion } : {}) },
    interval: tpl.spec.interval || hr.spec.interval,
    reconcileStrategy: tpl.spec.reconcileStrategy || "ChartVersion",
  };
  if (tpl.spec.valuesFiles?.length) spec.valuesFiles = tpl.spec.valuesFiles;
  if (tpl.spec.ignoreMissingValuesFiles) spec.ignoreMissingValuesFiles = true;
  if (tpl.spec.verify) spec.verify = tpl.spec.verify;
  return {
    apiVersion: `${SourceGroup}/v1`,
    kind: "HelmChart",
    metadata: {
      name: id.name,
      namespace: id.namespace,
      labels: { ...tpl.metadata?.labels, [HelmNameLabel]: hr.metadata.name, [HelmNamespaceLabel]: hr.metadata.namespace! },
      ...(tpl.metadata?.annotations ? { annotations: tpl.metadata.annotations } : {}),
    } as ChartSource["metadata"],
    spec,
  };
}

const refOf = (kind: SourceId["kind"]): ResourceRef => (kind === "HelmChart" ? HelmChartRef : kind === "ExternalArtifact" ? ExternalArtifactRef : OCIRepositoryRef);

export interface ResolveOptions {
  client: KubeClient;
  signal: AbortSignal;
  noCrossNamespaceRefs?: boolean;
  cached?: (id: SourceId) => ChartSource | undefined;
}

/**
 * The chart source with a ready artifact. Keeps the templated HelmChart in step with spec.chart first.
 * Not ready yet is an ArtifactFailed error (retried); a blocked cross-namespace reference is stalled.
 */
export async function resolveChartSource(hr: HelmRelease, o: ResolveOptions): Promise<{ id: SourceId; source: ChartSource; artifact: Artifact }> {
  const id = chartSourceOf(hr);
  const subject = `${id.kind} '${id.namespace}/${id.name}'`;
  if (o.noCrossNamespaceRefs && id.namespace !== hr.metadata.namespace) {
    throw new ReconcileError("AccessDenied", `can't access ${subject}, cross-namespace references have been blocked`, { stalled: true });
  }
  let source: ChartSource | undefined;
  if (hr.spec.chart && !hr.spec.chartRef) {
    const wanted = helmChartFor(hr);
    const current = o.cached?.(id);
    if (!current || !sameChartSpec(current, wanted)) {
      try {
        source = (await o.client.apply<ChartSource>(HelmChartRef, wanted as never, "helm-controller", { signal: o.signal })).object;
      } catch (err) {
        throw new ReconcileError(ArtifactFailedReason, `could not create or update ${subject}: ${(err as Error).message}`);
      }
    } else {
      source = current;
    }
  } else {
    source = o.cached?.(id);
  }
  if (!source) {
    try {
      source = await o.client.get<ChartSource>(refOf(id.kind), id.namespace, id.name, { signal: o.signal });
    } catch (err) {
      if (isNotFound(err)) throw new ReconcileError(ArtifactFailedReason, `${subject} not found`);
      throw new ReconcileError(ArtifactFailedReason, `could not get ${subject}: ${(err as Error).message}`);
    }
  }
  const artifact = source.status?.artifact;
  if (!artifact) {
    const ready = source.status?.conditions?.find((c) => c.type === "Ready");
    const why = ready?.status === "False" && ready.message ? `: ${ready.message}` : "";
    throw new ReconcileError(ArtifactFailedReason, `${subject} is not ready${why}`);
  }
  return { id, source, artifact };
}

function sameChartSpec(current: ChartSource, wanted: ChartSource): boolean {
  const spec = current.spec ?? {};
  for (const [k, v] of Object.entries(wanted.spec ?? {})) if (JSON.stringify(spec[k]) !== JSON.stringify(v)) return false;
  for (const [k, v] of Object.entries(wanted.metadata.labels ?? {})) if (current.metadata.labels?.[k] !== v) return false;
  return true;
}

/** Deletes the HelmChart a template made (when the HelmRelease goes or switches to chartRef). */
export async function deleteTemplatedChart(hr: HelmRelease, client: KubeClient, signal: AbortSignal, key?: string): Promise<void> {
  const [ns, name] = key ? key.split("/") : [hr.spec.chart?.spec.sourceRef.namespace || hr.metadata.namespace!, `${hr.metadata.namespace}-${hr.metadata.name}`];
  try {
    await client.delete(HelmChartRef, ns, name!, { signal });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The largest chart artifact downloaded (Flux's helm-controller default limit for charts). */
export const maxChartBytes = 10 << 20;

/**
 * Chart artifacts on local disk, one file per digest: a thousand releases of one chart download it once.
 * Files not used for a while are removed by prune().
 */
export class ChartCache {
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly used = new Map<string, number>();

  constructor(readonly dir = path.join(os.tmpdir(), "mooring-helm", "charts")) {}

  async get(artifact: Artifact, signal: AbortSignal): Promise<string> {
    const key = (artifact.digest ?? artifact.revision).replace(/[^a-zA-Z0-9]/g, "_");
    const file = path.join(this.dir, `${key}.tgz`);
    this.used.set(file, Date.now());
    try {
      await fs.access(file);
      return file;
    } catch {
      // not cached
    }
    let p = this.inflight.get(file);
    if (!p) {
      p = this.download(artifact, file, signal).finally(() => this.inflight.delete(file));
      this.inflight.set(file, p);
    }
    return p;
  }

  private async download(artifact: Artifact, file: string, signal: AbortSignal): Promise<string> {
    let bytes: Buffer;
    try {
      bytes = await downloadArtifact(artifact.url, artifact.digest, signal, maxChartBytes, { retries: 2, firstDelayMs: 500, maxDelayMs: 2000 });
    } catch (err) {
      throw new ReconcileError(ArtifactFailedReason, `failed to download chart artifact ${artifact.revision} from ${artifact.url}: ${(err as Error).message}`);
    }
    await fs.mkdir(this.dir, { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, file);
    return file;
  }

  /** Removes charts not used for maxAgeMs. */
  async prune(maxAgeMs = 3600_000): Promise<void> {
    const now = Date.now();
    for (const [file, at] of this.used) {
      if (now - at > maxAgeMs) {
        this.used.delete(file);
        await fs.rm(file, { force: true });
      }
    }
  }
}
