// The HelmChart reconciler. From a HelmRepository: pick the version in the repository's index artifact (exact,
// or the highest a Helm constraint allows), download the chart (the repository's credentials and TLS,
// size-limited), and store it as "helmchart/<ns>/<name>/<chart>-<version>.tgz" — as pulled, or, with
// valuesFiles, repackaged with the merged values and the version "<version>+<generation>", as Flux does.
// From a GitRepository or a Bucket: package the chart directory at spec.chart in the source artifact (see
// gitchart.ts).
import * as fs from "node:fs";
import { ArtifactReconciler } from "./artifactreconciler";
import { withDeadline } from "../runtime/abort";
import type { Action, ErrorPolicy } from "../runtime/controller";
import type { Session } from "../runtime/session";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { markReady, markTrue, removeCondition } from "../runtime/conditions";
import { ProgressingReason } from "../api/meta";
import { parseDuration } from "../api/duration";
import { ArtifactInStorageCondition, ArtifactOutdatedCondition, FetchFailedCondition, SourceGroup, StorageOperationFailedCondition, URLInvalidReason, type Artifact, type GitRepository } from "../api/source";
import {
  ArchiveOperationFailedReason,
  BuildFailedCondition,
  ChartPackageSucceededReason,
  ChartPullSucceededReason,
  HelmChartKind,
  defaultHelmChartFileMaxSize,
  defaultHelmChartMaxSize,
  defaultHelmIndexMaxSize,
  type HelmChart,
  type HelmRepository,
} from "../api/source-helm";
import { displayUrl, helmGet, HelmHttpError } from "./helmhttp";
import { loadHelmAuth } from "./helmsecrets";
import { ChartNotFoundError, findChartVersion, parseIndex, sha256Digest, type HelmIndex } from "./helmindex";
import type { ChartDependency } from "./chartdeps";
import { dependencyArchive } from "./chartrepodeps";
import { ConstraintError, parseHelmVersion, selectVersion } from "./helmsemver";
import { parseOciUrl, RegistryClient, RegistryError } from "./registry";
import { loadRegistryAuth } from "./ocisecrets";
import { ChartArchiveError, chartMetadata, defaultChartArchiveLimits, mergeValuesFiles, readChartArchive, withChartVersion, withValues, writeChartArchive, type ChartFiles } from "./chartarchive";
import type { Storage } from "./storage";
import type { Bucket } from "../api/source-bucket";
import { buildError, buildSummary, withBuildMetadata, type ChartBuild } from "./chartbuild";

export { BuildErrors, buildError, buildSummary, withBuildMetadata, type ChartBuild } from "./chartbuild";
import { defaultSourceTreeLimits, packageGitChart, plannedVersion, readSourceFiles } from "./gitchart";
import { parse as parseYaml } from "yaml";

export interface HelmChartReconcilerOptions {
  storage: () => Storage | undefined;
  /** Reads HelmRepositories, GitRepositories and Buckets ("namespace/name") from the shared caches. */
  helmRepository: (key: string) => HelmRepository | undefined;
  gitRepository: (key: string) => GitRepository | undefined;
  bucket: (key: string) => Bucket | undefined;
  /** Every cached HelmRepository: dependencies name theirs by URL. */
  helmRepositories: () => HelmRepository[];
  /** Largest chart accepted, in bytes (Flux's --helm-chart-max-size). */
  chartMaxSize?: number;
  /** Largest single file of a chart loaded or packaged, in bytes (Flux's --helm-chart-file-max-size). */
  chartFileMaxSize?: number;
  /** Largest index fetched for a dependency repository no HelmRepository names (Flux's --helm-index-max-size). */
  indexMaxSize?: number;
}

const revisionKey = `${SourceGroup}/revision`;
const digestKey = `${SourceGroup}/digest`;

const sourceError = (reason: string, message: string) => new ReconcileError(reason, message, { condition: FetchFailedCondition });

export const helmChartErrorPolicy: ErrorPolicy<HelmChart> = { reason: "Unknown", condition: FetchFailedCondition };

/** Merges values files into a chart and stamps the version; returns the new archive and the merged files. */
export function packageWithValues(chart: ChartFiles, version: string, valuesFiles: readonly string[], ignoreMissing: boolean): { archive: Buffer; merged: string[] } {
  let merged: string[] = [];
  let out = withChartVersion(chart, version);
  if (valuesFiles.length) {
    let result;
    try {
      result = mergeValuesFiles(chart, valuesFiles, ignoreMissing);
    } catch (err) {
      if (err instanceof ChartArchiveError) throw buildError("values", `failed to merge chart values: ${err.message}`, err);
      throw err;
    }
    merged = result.merged;
    out = withValues(out, result.values);
  }
  return { archive: writeChartArchive(out), merged };
}

/** A chart version found in a repository, and how to download its archive (at most `max` bytes). */
interface RemoteChart {
  name: string;
  version: string;
  download: (max: number) => Promise<Buffer>;
}

/** The layer media type of a Helm chart in an OCI registry. */
export const helmChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

export class HelmChartReconciler extends ArtifactReconciler<HelmChart> {
  private readonly indexes = new Map<string, HelmIndex>();

  constructor(private readonly opts: HelmChartReconcilerOptions) {
    super(() => opts.storage(), HelmChartKind.kind);
  }

  private get chartFileMaxSize(): number {
    return this.opts.chartFileMaxSize ?? defaultHelmChartFileMaxSize;
  }

  protected produce(s: Session<HelmChart>): Promise<Action> {
    return this.build(s);
  }

  private async build(s: Session<HelmChart>): Promise<Action> {
    const { obj } = s;
    const status = (obj.status ??= {});
    s.progressingOnNewGeneration();
    const ref = obj.spec.sourceRef;
    const key = `${obj.metadata.namespace}/${ref.name}`;
    let result: ChartBuild;
    if (ref.kind === "HelmRepository") {
      const repo = this.opts.helmRepository(key);
      if (!repo) throw sourceError("SourceUnavailable", `failed to get source: HelmRepository '${key}' not found`);
      result = await withDeadline(s.signal, parseDuration(repo.spec.timeout ?? "60s"), async (signal) => {
        if (repo.spec.type === "oci") return this.fromRemote(s, await this.ociRemote(s, repo, signal));
        const artifact = repo.status?.artifact;
        if (!artifact || !this.storage.exists(artifact.path)) throw sourceError("NoSourceArtifact", `no artifact available for HelmRepository source '${ref.name}'`);
        status.observedSourceArtifactRevision = artifact.revision;
        return this.fromRemote(s, this.httpRemote(s, repo, artifact, signal));
      });
    } else if (ref.kind === "GitRepository" || ref.kind === "Bucket") {
      const source = ref.kind === "GitRepository" ? this.opts.gitRepository(key) : this.opts.bucket(key);
      if (!source) throw sourceError("SourceUnavailable", `failed to get source: ${ref.kind} '${key}' not found`);
      const artifact = source.status?.artifact;
      if (!artifact || !this.storage.exists(artifact.path)) throw sourceError("NoSourceArtifact", `no artifact available for ${ref.kind} source '${ref.name}'`);
      status.observedSourceArtifactRevision = artifact.revision;
      result = await this.fromSourceArtifact(s, artifact);
    } else {
      throw new ReconcileError("UnsupportedSourceKind", `failed to get source: unsupported source kind '${ref.kind}', must be one of: HelmRepository, GitRepository, Bucket`, { condition: FetchFailedCondition, stalled: true });
    }
    return this.store(s, result);
  }

  private loadIndex(artifact: Artifact): HelmIndex {
    const cached = this.indexes.get(artifact.path);
    if (cached) return cached;
    const index = parseIndex(fs.readFileSync(this.storage.localPath(artifact.path)));
    if (this.indexes.size >= 64) this.indexes.delete(this.indexes.keys().next().value!);
    this.indexes.set(artifact.path, index);
    return index;
  }

  /** A chart version in an index.yaml repository, downloaded from the URL the index gives. */
  private httpRemote(s: Session<HelmChart>, repo: HelmRepository, indexArtifact: Artifact, signal: AbortSignal): RemoteChart {
    const { obj } = s;
    let entry;
    try {
      entry = findChartVersion(this.loadIndex(indexArtifact), obj.spec.chart, obj.spec.version);
    } catch (err) {
      if (err instanceof ChartNotFoundError || err instanceof ConstraintError) throw buildError("reference", `failed to get chart version for remote reference: ${err.message}`, err);
      throw err;
    }
    const base = repo.spec.url.endsWith("/") ? repo.spec.url : `${repo.spec.url}/`;
    return {
      name: entry.name,
      version: entry.version,
      download: async (max) => {
        const url = entry.urls?.[0];
        if (!url) throw buildError("pull", `failed to download chart for remote reference: chart '${entry.name}' has no downloadable URLs`);
        let target: URL;
        try {
          target = new URL(url, base);
        } catch {
          throw buildError("pull", `failed to download chart for remote reference: invalid chart URL '${displayUrl(url)}'`);
        }
        const auth = await loadHelmAuth(s.client, repo, signal);
        try {
          return await helmGet(target.toString(), { auth, repoOrigin: new URL(base).origin, passCredentials: repo.spec.passCredentials, maxBytes: max, signal });
        } catch (err) {
          if (!(err instanceof HelmHttpError)) throw err;
          const what = err.kind === "size" ? `chart is over the size limit: ${err.message} (--helm-chart-max-size)` : err.message;
          throw buildError("pull", `failed to download chart for remote reference: ${what}`, err);
        }
      },
    };
  }

  /** A chart in an OCI registry ("<url>/<chart>:<version>", '+' written '_' in tags as Helm pushes them). */
  private async ociRemote(s: Session<HelmChart>, repo: HelmRepository, signal: AbortSignal): Promise<RemoteChart> {
    const { obj } = s;
    let target;
    try {
      target = parseOciUrl(`${repo.spec.url.replace(/\/+$/, "")}/${obj.spec.chart}`);
    } catch (err) {
      throw new ReconcileError(URLInvalidReason, `invalid Helm repository URL: ${errorMessage(err)}`, { condition: FetchFailedCondition, stalled: true });
    }
    const auth = await loadRegistryAuth(s.client, obj.metadata.namespace!, repo.spec, target.registry, signal);
    const client = new RegistryClient({ ...target, ...auth, insecure: repo.spec.insecure, signal });
    const wanted = obj.spec.version ?? "*";
    let version: string | undefined;
    if (parseHelmVersion(wanted) && /^v?\d+\.\d+\.\d+/.test(wanted)) {
      version = wanted;
    } else {
      let tags: string[];
      try {
        tags = await client.tags();
      } catch (err) {
        throw buildError("pull", `failed to get chart version for remote reference: ${errorMessage(err)}`, err);
      }
      try {
        version = selectVersion(tags.map((t) => ({ version: t.replace(/_/g, "+") })), wanted === "" ? "*" : wanted)?.version;
      } catch (err) {
        if (err instanceof ConstraintError) throw buildError("reference", `failed to get chart version for remote reference: ${err.message}`, err);
        throw err;
      }
      if (!version) throw buildError("reference", `failed to get chart version for remote reference: could not get a chart version matching '${wanted}' from 'oci://${target.registry}/${target.repository}'`);
    }
    const tag = version.replace(/\+/g, "_");
    const name = obj.spec.chart.split("/").pop()!;
    return {
      name,
      version,
      download: async (max) => {
        try {
          const { manifest } = await client.manifest(tag);
          const layer = manifest.layers.find((l) => l.mediaType === helmChartLayerMediaType);
          if (!layer) throw new RegistryError(`'oci://${target.registry}/${target.repository}:${tag}' is not a Helm chart (no layer of type ${helmChartLayerMediaType})`);
          if (layer.size > max) throw new RegistryError(`chart is over the size limit: layer ${layer.digest} is ${layer.size} bytes, over the limit of ${max} bytes (--helm-chart-max-size)`);
          return await client.blob(layer, max);
        } catch (err) {
          if (err instanceof RegistryError) throw buildError("pull", `failed to download chart for remote reference: ${err.message}`, err);
          throw err;
        }
      },
    };
  }

  /** Pull, and with valuesFiles repackage, a chart version from a repository. */
  private async fromRemote(s: Session<HelmChart>, remote: RemoteChart): Promise<ChartBuild> {
    const { obj } = s;
    const valuesFiles = obj.spec.valuesFiles ?? [];
    const packaged = valuesFiles.length > 0;
    const version = packaged ? withBuildMetadata(remote.version, String(obj.metadata.generation ?? 0)) : remote.version;
    const build: ChartBuild = { name: remote.name, version, packaged, valuesFiles: packaged ? (obj.status?.observedValuesFiles ?? valuesFiles) : [] };
    if (this.upToDate(obj, build)) return build;
    this.markBuilding(s, build);
    const tgz = await remote.download(this.opts.chartMaxSize ?? defaultHelmChartMaxSize);
    let chart: ChartFiles;
    try {
      chart = readChartArchive(tgz, { ...defaultChartArchiveLimits, maxFile: this.chartFileMaxSize });
      const meta = chartMetadata(chart);
      if (meta.name !== remote.name) throw new ChartArchiveError(`chart name '${meta.name}' in the archive differs from '${remote.name}'`);
    } catch (err) {
      if (err instanceof ChartArchiveError) throw buildError(packaged ? "package" : "pull", `failed to load downloaded chart: ${err.message}`, err);
      throw err;
    }
    if (!packaged) return { ...build, archive: tgz };
    const { archive, merged } = packageWithValues(chart, version, valuesFiles, obj.spec.ignoreMissingValuesFiles === true);
    return { ...build, valuesFiles: merged, archive };
  }

  /** Packages the chart directory at spec.chart of a source artifact (reused while name and version stay). */
  private async fromSourceArtifact(s: Session<HelmChart>, source: Artifact): Promise<ChartBuild> {
    const { obj } = s;
    const opts = {
      chartPath: obj.spec.chart,
      sourceRevision: source.revision,
      strategy: obj.spec.reconcileStrategy ?? "ChartVersion",
      valuesFiles: obj.spec.valuesFiles ?? [],
      ignoreMissingValuesFiles: obj.spec.ignoreMissingValuesFiles === true,
      generation: obj.metadata.generation ?? 0,
    };
    const current = obj.status?.artifact;
    if (current && obj.status?.observedChartName && this.storage.exists(current.path) && obj.status.observedGeneration === obj.metadata.generation) {
      // Flux's rule: the cached chart stands while the chart's name and (decorated) version stay the same.
      const base = current.revision.replace(/\+.*$/, "");
      if (plannedVersion(base, opts) === current.revision && (await this.chartVersionUnchanged(source, opts.chartPath, base))) {
        return { name: obj.status.observedChartName, version: current.revision, packaged: true, valuesFiles: obj.status.observedValuesFiles ?? [] };
      }
    }
    const tgz = await fs.promises.readFile(this.storage.localPath(source.path));
    const build = await packageGitChart(tgz, opts, { ...defaultSourceTreeLimits, maxFile: this.chartFileMaxSize }, (dep) => this.dependencyArchive(s, dep));
    this.markBuilding(s, build);
    return build;
  }

  private dependencyArchive(s: Session<HelmChart>, dep: ChartDependency): Promise<Buffer> {
    return dependencyArchive(
      {
        namespace: s.obj.metadata.namespace!,
        client: s.client,
        signal: s.signal,
        helmRepository: this.opts.helmRepository,
        helmRepositories: this.opts.helmRepositories,
        storedIndex: (repo) => (repo.status?.artifact && this.storage.exists(repo.status.artifact.path) ? this.loadIndex(repo.status.artifact) : undefined),
        chartMaxSize: this.opts.chartMaxSize ?? defaultHelmChartMaxSize,
        indexMaxSize: this.opts.indexMaxSize ?? defaultHelmIndexMaxSize,
      },
      dep,
    );
  }

  /** Whether the chart in the source still has this version (read from Chart.yaml only). */
  private async chartVersionUnchanged(source: Artifact, chartPath: string, version: string): Promise<boolean> {
    try {
      const { chart } = readSourceFiles(await fs.promises.readFile(this.storage.localPath(source.path)), chartPath, []);
      const file = chart.get("Chart.yaml");
      return !!file && String((parseYaml(file.toString("utf8")) as { version?: unknown }).version) === version;
    } catch {
      return false;
    }
  }

  /** The stored artifact already is this build (same chart and version, same generation, file present). */
  private upToDate(obj: HelmChart, build: ChartBuild): boolean {
    const st = obj.status ?? {};
    return (
      st.artifact?.revision === build.version &&
      st.observedChartName === build.name &&
      st.observedGeneration === obj.metadata.generation &&
      this.storage.exists(st.artifact.path)
    );
  }

  private markBuilding(s: Session<HelmChart>, build: ChartBuild): void {
    const summary = buildSummary({ ...build, valuesFiles: [] }).replace(/^(pulled|packaged)/, "new");
    if (s.obj.status?.artifact) markTrue(s.obj, ArtifactOutdatedCondition, "NewChart", summary);
    s.progressing(ProgressingReason, `building artifact: ${summary}`);
  }

  private async store(s: Session<HelmChart>, build: ChartBuild): Promise<Action> {
    const { obj } = s;
    const status = obj.status!;
    const storage = this.storage;
    const dir = this.objectDir(obj);
    let artifact: Artifact;
    let stored = false;
    if (!build.archive) {
      artifact = { ...status.artifact!, url: storage.url(status.artifact!.path) };
    } else {
      const rel = `${dir}/${build.name}-${build.version}.tgz`;
      let temp: string | undefined;
      try {
        temp = await storage.tempFile(dir);
        await fs.promises.writeFile(temp, build.archive);
        await storage.commit(temp, rel);
        temp = undefined;
      } catch (err) {
        if (temp) await storage.discard(temp).catch(() => undefined);
        throw new ReconcileError(ArchiveOperationFailedReason, `unable to copy Helm chart to storage: ${errorMessage(err)}`, { condition: StorageOperationFailedCondition, cause: err });
      }
      const digest = sha256Digest(build.archive);
      stored = status.artifact?.digest !== digest;
      artifact = { path: rel, url: storage.url(rel), revision: build.version, digest, lastUpdateTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), size: build.archive.length };
    }
    status.url = storage.url(await storage.linkLatest(artifact.path));
    status.artifact = artifact;
    status.observedChartName = build.name;
    status.observedValuesFiles = build.packaged ? build.valuesFiles : undefined;
    const removed = await storage.garbageCollect(dir, artifact.path).catch((err: unknown) => {
      s.log.warn({ err: errorMessage(err) }, "garbage collection of superseded artifacts failed");
      return [];
    });
    if (removed.length) s.log.info({ removed }, "garbage collected superseded artifacts");
    for (const c of [FetchFailedCondition, BuildFailedCondition, StorageOperationFailedCondition, ArtifactOutdatedCondition]) removeCondition(obj, c);
    const summary = buildSummary(build);
    const reason = build.packaged ? ChartPackageSucceededReason : ChartPullSucceededReason;
    markTrue(obj, ArtifactInStorageCondition, reason, summary);
    markReady(obj, reason, summary);
    s.eventMetadata[revisionKey] = artifact.revision;
    if (artifact.digest) s.eventMetadata[digestKey] = artifact.digest;
    s.log.info({ revision: artifact.revision, stored, ms: Date.now() - s.startedAt }, stored ? summary : "chart artifact up to date");
    if (stored) s.event("Normal", reason, summary);
    return { requeueAfter: parseDuration(obj.spec.interval) };
  }
}
