// The source-controller: GitRepository reconciler + artifact storage server, wired into a Manager.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import type { Manager } from "../runtime/manager";
import { listen, parseAddr } from "../runtime/http";
import { GitRepositoryKind, type GitRepository } from "../api/source";
import { objectKey } from "../runtime/informer";
import { durationOr } from "../api/duration";
import { errorMessage } from "../runtime/errors";
import { GitRepositoryReconciler, gitRepositoryErrorPolicy } from "./gitrepository";
import { HelmChartKind, HelmRepositoryKind, type HelmChart, type HelmRepository } from "../api/source-helm";
import { HelmChartReconciler, helmChartErrorPolicy } from "./helmchart";
import { OCIRepositoryKind, type OCIRepository } from "../api/source-oci";
import { OCIRepositoryReconciler, ociRepositoryErrorPolicy } from "./ocirepository";
import { HelmRepositoryReconciler, helmRepositoryErrorPolicy } from "./helmrepository";
import { Storage, defaultRetention, type Retention } from "./storage";
import { BucketKind, type Bucket } from "../api/source-bucket";
import { BucketReconciler, bucketErrorPolicy } from "./bucket";

export { GitRepositoryReconciler, SourceFinalizer, parseGitUrl } from "./gitrepository";
export { Storage } from "./storage";

export interface SourceControllerOptions {
  storagePath: string;
  /** Listen address of the artifact server, e.g. ":9090" or "127.0.0.1:0". */
  storageAddr: string;
  /** Address advertised in artifact URLs; derived from the bound address when omitted. */
  storageAdvAddr?: string;
  concurrent?: number;
  /** How long and how many superseded artifacts are kept (--artifact-retention-ttl/-records); unset: Flux's defaults. */
  retention?: { [K in keyof Retention]?: Retention[K] };
  /** Largest HelmRepository index fetched, in bytes (--helm-index-max-size; default 50 MiB). */
  helmIndexMaxSize?: number;
  /** Largest chart archive downloaded, in bytes (--helm-chart-max-size; default 10 MiB). */
  helmChartMaxSize?: number;
  /** Largest single file of a chart loaded or packaged, in bytes (--helm-chart-file-max-size; default 5 MiB). */
  helmChartFileMaxSize?: number;
  /** Largest Bucket object accepted, in bytes (default 100 MiB). */
  bucketMaxObjectSize?: number;
  /**
   * Scratch root for checkouts and git credentials files. Default: a directory under the OS temp directory
   * named after the storage path, so a restarted controller finds (and wipes) what a killed one left.
   */
  tempPath?: string;
}

/** The default scratch root for a storage path: `<tmpdir>/mooring-source-<hash of the resolved path>`. */
export function defaultSourceTempPath(storagePath: string): string {
  return path.join(os.tmpdir(), `mooring-source-${createHash("sha256").update(path.resolve(storagePath)).digest("hex").slice(0, 12)}`);
}

export interface SourceControllerHandle {
  storage: () => Storage | undefined;
}

/** Index of GitRepositories by the repositories they include ("namespace/name"). */
const includedIndex = "include";
/** Index of HelmCharts by their source ("<kind>/<namespace>/<name>"). */
const chartSourceIndex = "chartSource";

/** Registers the source controllers with the manager; the storage server starts with the manager. */
export function addSourceController(mgr: Manager, o: SourceControllerOptions): SourceControllerHandle {
  fs.mkdirSync(o.storagePath, { recursive: true });
  let storage: Storage | undefined;
  const tempPath = o.tempPath ?? defaultSourceTempPath(o.storagePath);
  const repositories = mgr.informer<GitRepository>(GitRepositoryKind.resource);
  const reconciler = new GitRepositoryReconciler({ storage: () => storage, lookup: (k) => repositories.get(k), tempDir: tempPath });
  mgr
    .controller<GitRepository>(GitRepositoryKind, {
      name: "gitrepository",
      concurrency: o.concurrent ?? 2,
      reconcileTimeoutMs: (obj) => Math.max(120_000, durationOr(obj.spec.timeout, 60_000) * 3),
    })
    .index(includedIndex, (repo) => (repo.spec.include ?? []).map((i) => `${repo.metadata.namespace}/${i.repository.name}`))
    // An included repository's new artifact makes the repositories that include it reconcile.
    .watches<GitRepository>(GitRepositoryKind, (repo, old, event) => (event === "update" && repo.status?.artifact?.digest !== old?.status?.artifact?.digest ? [objectKey(repo)] : []), { via: includedIndex })
    .errorPolicy(gitRepositoryErrorPolicy)
    .complete(reconciler);
  mgr
    .controller<HelmRepository>(HelmRepositoryKind, {
      name: "helmrepository",
      concurrency: o.concurrent ?? 2,
      reconcileTimeoutMs: (obj) => Math.max(120_000, durationOr(obj.spec.timeout, 60_000) * 3),
    })
    .errorPolicy(helmRepositoryErrorPolicy)
    .complete(new HelmRepositoryReconciler({ storage: () => storage, indexMaxSize: o.helmIndexMaxSize }));
  const helmRepositories = mgr.informer<HelmRepository>(HelmRepositoryKind.resource);
  const buckets = mgr.informer<Bucket>(BucketKind.resource);
  // A source's new artifact makes the HelmCharts built from it reconcile.
  const newArtifact = <S extends { status?: { artifact?: { digest?: string; revision?: string } } }>(src: S, old: S | undefined, event: string) =>
    event !== "delete" && (src.status?.artifact?.digest !== old?.status?.artifact?.digest || src.status?.artifact?.revision !== old?.status?.artifact?.revision);
  mgr
    .controller<HelmChart>(HelmChartKind, {
      name: "helmchart",
      concurrency: o.concurrent ?? 2,
      reconcileTimeoutMs: () => 180_000,
    })
    .index(chartSourceIndex, (chart) => [`${chart.spec.sourceRef.kind}/${chart.metadata.namespace}/${chart.spec.sourceRef.name}`])
    .watches<HelmRepository>(HelmRepositoryKind, (repo, old, event) => (newArtifact(repo, old, event) ? [`HelmRepository/${objectKey(repo)}`] : []), { via: chartSourceIndex })
    .watches<GitRepository>(GitRepositoryKind, (repo, old, event) => (newArtifact(repo, old, event) ? [`GitRepository/${objectKey(repo)}`] : []), { via: chartSourceIndex })
    .watches<Bucket>(BucketKind, (bucket, old, event) => (newArtifact(bucket, old, event) ? [`Bucket/${objectKey(bucket)}`] : []), { via: chartSourceIndex })
    .errorPolicy(helmChartErrorPolicy)
    .complete(new HelmChartReconciler({ storage: () => storage, helmRepository: (k) => helmRepositories.get(k), gitRepository: (k) => repositories.get(k), bucket: (k) => buckets.get(k), helmRepositories: () => helmRepositories.listCached(), chartMaxSize: o.helmChartMaxSize, chartFileMaxSize: o.helmChartFileMaxSize, indexMaxSize: o.helmIndexMaxSize }));
  mgr
    .controller<OCIRepository>(OCIRepositoryKind, {
      name: "ocirepository",
      concurrency: o.concurrent ?? 2,
      reconcileTimeoutMs: (obj) => Math.max(120_000, durationOr(obj.spec.timeout, 60_000) * 3),
    })
    .errorPolicy(ociRepositoryErrorPolicy)
    .complete(new OCIRepositoryReconciler({ storage: () => storage, tempDir: tempPath }));
  mgr
    .controller<Bucket>(BucketKind, {
      name: "bucket",
      concurrency: o.concurrent ?? 2,
      reconcileTimeoutMs: (obj) => Math.max(120_000, durationOr(obj.spec.timeout, 60_000) * 3),
    })
    .errorPolicy(bucketErrorPolicy)
    .complete(new BucketReconciler({ storage: () => storage, tempDir: tempPath, maxObjectSize: o.bucketMaxObjectSize }));
  // Retried: a git process of a killed instance may still be writing into the scratch root while it dies.
  const removeScratch = () => fs.promises.rm(tempPath, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  mgr.addRunnable(async (signal) => {
    const server = new Storage(o.storagePath, "pending").server();
    const bound = await listen(server, o.storageAddr);
    const adv = o.storageAdvAddr ?? defaultAdvertisedAddr(bound);
    const next = new Storage(o.storagePath, adv, {
      ttlMs: o.retention?.ttlMs ?? defaultRetention.ttlMs,
      records: o.retention?.records ?? defaultRetention.records,
    });
    const removed = await next.removeStrayTempFiles();
    // Checkouts and credentials files a killed process left behind; nothing else uses this root. Leftovers that
    // survive the retries are logged, never a reason to fail the start.
    await removeScratch().catch((err: unknown) => {
      mgr.log.warn({ tempPath, err: errorMessage(err) }, "could not remove what an earlier process left in the scratch directory");
    });
    await fs.promises.mkdir(tempPath, { recursive: true, mode: 0o700 });
    storage = next;
    mgr.log.info({ storagePath: o.storagePath, tempPath, addr: bound, advertised: adv, strayTempFilesRemoved: removed }, "artifact server listening");
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await mgr.stopped();
    await removeScratch();
  });
  return { storage: () => storage };
}

function defaultAdvertisedAddr(bound: string): string {
  const { host, port } = parseAddr(bound);
  if (process.env.KUBERNETES_SERVICE_HOST) return `${os.hostname()}:${port}`;
  return host === "0.0.0.0" || host === "::" ? `localhost:${port}` : `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
