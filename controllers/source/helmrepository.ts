// The HelmRepository reconciler. type 'default': fetch <url>/index.yaml (basic auth, TLS, timeout), revision =
// sha256 of the fetched file, artifact = the parsed index with each chart's versions sorted, as JSON in
// "helmrepository/<ns>/<name>/index-<hex>.yaml", with an "index.yaml" link beside it (status.url). type 'oci':
// a static data container, as in Flux: not reconciled, no status of its own.
import * as fs from "node:fs";
import { requireStorage } from "./artifactreconciler";
import { withDeadline } from "../runtime/abort";
import type { Action, ErrorPolicy, Reconciler } from "../runtime/controller";
import type { Session } from "../runtime/session";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { markReady, markTrue, removeCondition } from "../runtime/conditions";
import { FailedReason, ProgressingReason, SucceededReason } from "../api/meta";
import { parseDuration } from "../api/duration";
import {
  ArtifactInStorageCondition,
  ArtifactOutdatedCondition,
  FetchFailedCondition,
  NewRevisionReason,
  SourceGroup,
  StorageOperationFailedCondition,
  URLInvalidReason,
  type Artifact,
} from "../api/source";
import { ArchiveOperationFailedReason, HelmRepositoryKind, IndexationFailedReason, defaultHelmIndexMaxSize, type HelmRepository } from "../api/source-helm";
import { displayUrl, helmGet, HelmHttpError } from "./helmhttp";
import { loadHelmAuth } from "./helmsecrets";
import { IndexError, indexArtifactContent, parseIndex, sha256Digest } from "./helmindex";
import type { Storage } from "./storage";

export interface HelmRepositoryReconcilerOptions {
  storage: () => Storage | undefined;
  /** Largest index accepted, in bytes (Flux's --helm-index-max-size). */
  indexMaxSize?: number;
}

const revisionKey = `${SourceGroup}/revision`;
const digestKey = `${SourceGroup}/digest`;
export const indexLinkName = "index.yaml";

const fetchError = (reason: string, message: string, opts: { stalled?: boolean; cause?: unknown } = {}) => new ReconcileError(reason, message, { condition: FetchFailedCondition, ...opts });

export const helmRepositoryErrorPolicy: ErrorPolicy<HelmRepository> = { reason: FailedReason, condition: FetchFailedCondition };

/** The address of a repository's index: "<url>/index.yaml", as Helm joins it. */
export function indexUrl(repoUrl: string): URL {
  let url: URL;
  try {
    url = new URL(repoUrl);
  } catch {
    throw fetchError(URLInvalidReason, `invalid Helm repository URL '${displayUrl(repoUrl)}': cannot be parsed`, { stalled: true });
  }
  if (url.protocol === "oci:") throw fetchError(URLInvalidReason, "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type", { stalled: true });
  if (url.protocol !== "http:" && url.protocol !== "https:") throw fetchError(URLInvalidReason, `invalid Helm repository URL '${displayUrl(repoUrl)}': scheme must be http or https`, { stalled: true });
  if (!url.hostname) throw fetchError(URLInvalidReason, `invalid Helm repository URL '${displayUrl(repoUrl)}': no host`, { stalled: true });
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/index.yaml`;
  url.search = "";
  url.hash = "";
  return url;
}

/** Sizes as Flux's events write them (decimal units, four significant digits): "1.234kB". */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${Number(value.toPrecision(4))}${units[i]}`;
}

/** The artifact path of an index revision: "helmrepository/<ns>/<name>/index-<hex>.yaml". */
export function indexArtifactPath(storage: Storage, obj: HelmRepository, revision: string): string {
  return `${storage.objectDir(HelmRepositoryKind.kind, obj.metadata.namespace!, obj.metadata.name)}/index-${revision.replace(/^sha256:/, "")}.yaml`;
}

export class HelmRepositoryReconciler implements Reconciler<HelmRepository> {
  constructor(private readonly opts: HelmRepositoryReconcilerOptions) {}

  async reconcile(s: Session<HelmRepository>): Promise<Action | void> {
    // OCI repositories are data containers HelmCharts read; Flux leaves them without finalizer or status.
    if (s.obj.spec.type === "oci" && !s.obj.metadata.deletionTimestamp && !s.obj.metadata.finalizers?.length) return;
    return s.withFinalizer(
      () => (s.obj.spec.type === "oci" ? Promise.resolve() : this.storeArtifact(s)),
      async () => {
        await this.storage.removeDir(this.storage.objectDir(HelmRepositoryKind.kind, s.obj.metadata.namespace!, s.obj.metadata.name));
        s.log.info("artifacts removed, finalizer released");
      },
    );
  }

  private get storage(): Storage {
    return requireStorage(this.opts.storage());
  }

  private async storeArtifact(s: Session<HelmRepository>): Promise<Action> {
    const { obj } = s;
    const status = (obj.status ??= {});
    s.progressingOnNewGeneration();
    const url = indexUrl(obj.spec.url);
    const bytes = await withDeadline(s.signal, parseDuration(obj.spec.timeout ?? "60s"), async (signal) => {
      const auth = await loadHelmAuth(s.client, obj, signal);
      try {
        return await helmGet(url.toString(), { auth, repoOrigin: url.origin, passCredentials: obj.spec.passCredentials, maxBytes: this.opts.indexMaxSize ?? defaultHelmIndexMaxSize, signal });
      } catch (err) {
        if (!(err instanceof HelmHttpError)) throw err;
        if (err.kind === "size") throw fetchError(FailedReason, `failed to fetch Helm repository index: ${err.message} (--helm-index-max-size)`, { cause: err });
        const hint = err.status === 401 || err.status === 403 ? (obj.spec.secretRef ? ` (check the credentials in secret '${obj.metadata.namespace}/${obj.spec.secretRef.name}')` : " (the repository wants credentials: set .spec.secretRef)") : "";
        throw fetchError(FailedReason, `failed to fetch Helm repository index: ${err.message}${hint}`, { cause: err });
      }
    });
    const revision = sha256Digest(bytes);
    const storage = this.storage;
    const current = status.artifact;
    let artifact: Artifact;
    let stored = false;
    if (current?.revision === revision && storage.exists(current.path)) {
      artifact = { ...current, url: storage.url(current.path) };
    } else {
      let index;
      try {
        index = parseIndex(bytes);
      } catch (err) {
        if (err instanceof IndexError) throw fetchError(IndexationFailedReason, `failed to load Helm repository from index YAML: ${err.message}`, { cause: err });
        throw err;
      }
      const message = `new index revision '${revision}'`;
      if (current) markTrue(obj, ArtifactOutdatedCondition, NewRevisionReason, message);
      s.progressing(ProgressingReason, `building artifact: ${message}`);
      artifact = await this.write(storage, obj, revision, indexArtifactContent(index));
      stored = current?.digest !== artifact.digest;
    }
    status.url = storage.url(await storage.linkLatest(artifact.path, indexLinkName));
    status.artifact = artifact;
    const removed = await storage.garbageCollect(storage.objectDir(HelmRepositoryKind.kind, obj.metadata.namespace!, obj.metadata.name), artifact.path).catch((err: unknown) => {
      s.log.warn({ err: errorMessage(err) }, "garbage collection of superseded artifacts failed");
      return [];
    });
    if (removed.length) s.log.info({ removed }, "garbage collected superseded artifacts");
    for (const c of [FetchFailedCondition, StorageOperationFailedCondition, ArtifactOutdatedCondition]) removeCondition(obj, c);
    const message = `stored artifact: revision '${revision}'`;
    markTrue(obj, ArtifactInStorageCondition, SucceededReason, message);
    markReady(obj, SucceededReason, message);
    s.eventMetadata[revisionKey] = artifact.revision;
    if (artifact.digest) s.eventMetadata[digestKey] = artifact.digest;
    s.log.info({ revision, stored, ms: Date.now() - s.startedAt }, stored ? "stored new index artifact" : "index artifact up to date");
    if (stored) s.event("Normal", "NewArtifact", `stored fetched index of ${artifact.size === undefined ? "unknown size" : `size ${humanSize(artifact.size)}`} from '${displayUrl(obj.spec.url)}'`);
    return obj.spec.interval ? { requeueAfter: parseDuration(obj.spec.interval) } : {};
  }

  private async write(storage: Storage, obj: HelmRepository, revision: string, content: string): Promise<Artifact> {
    const rel = indexArtifactPath(storage, obj, revision);
    let temp: string | undefined;
    try {
      temp = await storage.tempFile(storage.objectDir(HelmRepositoryKind.kind, obj.metadata.namespace!, obj.metadata.name));
      await fs.promises.writeFile(temp, content);
      await storage.commit(temp, rel);
      temp = undefined;
    } catch (err) {
      if (temp) await storage.discard(temp).catch(() => undefined);
      throw new ReconcileError(ArchiveOperationFailedReason, `unable to save artifact to storage: ${errorMessage(err)}`, { condition: StorageOperationFailedCondition, cause: err });
    }
    const lastUpdateTime = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    return { path: rel, url: storage.url(rel), revision, digest: sha256Digest(content), lastUpdateTime, size: Buffer.byteLength(content) };
  }
}
