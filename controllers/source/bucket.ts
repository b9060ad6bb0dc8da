// The Bucket reconciler: list the bucket (ListObjectsV2 under the prefix), filter the keys with the bucket's
// root .sourceignore and .spec.ignore, digest the key → ETag index into the revision ("sha256:<hex>", as Flux),
// and only when that revision differs from the stored artifact download the objects (bounded concurrency, a
// size limit per object, unsafe keys refused) and store them as "bucket/<ns>/<name>/<hex>.tar.gz".
import { setMaxListeners } from "node:events";
import { ArtifactReconciler } from "./artifactreconciler";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { withDeadline } from "../runtime/abort";
import type { Action, ErrorPolicy } from "../runtime/controller";
import type { Session } from "../runtime/session";
import type { KubeClient } from "../runtime/kube";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { markReady, markTrue, removeCondition } from "../runtime/conditions";
import { ProgressingReason, SucceededReason } from "../api/meta";
import { parseDuration } from "../api/duration";
import {
  ArtifactInStorageCondition,
  ArtifactOutdatedCondition,
  AuthenticationFailedReason,
  FetchFailedCondition,
  NewRevisionReason,
  SourceGroup,
  StorageOperationFailedCondition,
  URLInvalidReason,
  UnsupportedFeatureReason,
  type Artifact,
} from "../api/source";
import { ArchiveOperationFailedReason } from "../api/source-helm";
import { BucketKind, BucketOperationFailedReason, type Bucket } from "../api/source-bucket";
import { indexRevision, unsafeKeyReason, type BucketIndex } from "./bucketindex";
import { IgnoreMatcher, defaultMatcher, parsePatterns, sourceIgnoreFile } from "./ignore";
import { readSecret, tlsFrom } from "./helmsecrets";
import { S3Client, S3Error } from "./s3";
import type { Credentials } from "./sigv4";
import { writeArchive } from "./tarball";
import type { Storage } from "./storage";

export interface BucketReconcilerOptions {
  storage: () => Storage | undefined;
  tempDir?: string;
  /** Largest object accepted, in bytes (default 100 MiB). */
  maxObjectSize?: number;
  /** Downloads running at once per Bucket (default 20). */
  maxConcurrentFetches?: number;
}

export const defaultMaxObjectSize = 100 << 20;
const defaultConcurrentFetches = 20;
const revisionKey = `${SourceGroup}/revision`;
const digestKey = `${SourceGroup}/digest`;

const fetchError = (reason: string, message: string, opts: { stalled?: boolean; cause?: unknown } = {}) => new ReconcileError(reason, message, { condition: FetchFailedCondition, ...opts });

export const bucketErrorPolicy: ErrorPolicy<Bucket> = { reason: BucketOperationFailedReason, condition: FetchFailedCondition };

/** Whether a key is left out: the key itself or one of its parent directories matches. */
export function keyIgnored(matcher: IgnoreMatcher, key: string): boolean {
  const parts = key.split("/");
  for (let i = 1; i < parts.length; i++) if (matcher.ignores(parts.slice(0, i).join("/"), true)) return true;
  return matcher.ignores(key, false);
}

/** Runs `fn` over the items with at most `limit` in flight; the first failure stops new work and is thrown. */
export async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure;
}

interface Connection {
  client: S3Client;
}

export class BucketReconciler extends ArtifactReconciler<Bucket> {
  constructor(private readonly opts: BucketReconcilerOptions) {
    super(() => opts.storage(), BucketKind.kind);
  }

  protected produce(s: Session<Bucket>): Promise<Action> {
    return this.sync(s);
  }

  private async sync(s: Session<Bucket>): Promise<Action> {
    const { obj } = s;
    const status = (obj.status ??= {});
    s.progressingOnNewGeneration();
    const spec = obj.spec;
    const timeoutMs = parseDuration(spec.timeout ?? "60s");
    const scratch = await fs.promises.mkdtemp(path.join(this.opts.tempDir ?? os.tmpdir(), "mooring-bucket-"));
    try {
      const outcome = await withDeadline(s.signal, timeoutMs, async (signal) => {
        // Every download in flight listens on the one deadline signal.
        setMaxListeners((this.opts.maxConcurrentFetches ?? defaultConcurrentFetches) + 8, signal);
        const { client } = await this.connect(s.client, obj, signal);
        const index = await this.index(client, obj, scratch);
        const revision = indexRevision(index);
        const current = status.artifact;
        if (current?.revision === revision && this.storage.exists(current.path)) {
          return { artifact: { ...current, url: this.storage.url(current.path) }, stored: false, files: index.size };
        }
        const message = `new upstream revision '${revision}'`;
        if (current) markTrue(obj, ArtifactOutdatedCondition, NewRevisionReason, message);
        s.progressing(ProgressingReason, `building artifact: ${message}`);
        const tree = path.join(scratch, "tree");
        await this.download(client, obj, index, tree);
        return { ...(await this.store(obj, tree, indexRevision(index))), files: index.size };
      });
      const storage = this.storage;
      status.url = storage.url(await storage.linkLatest(outcome.artifact.path));
      status.artifact = outcome.artifact;
      status.observedIgnore = spec.ignore;
      const removed = await storage.garbageCollect(this.objectDir(obj), outcome.artifact.path).catch((err: unknown) => {
        s.log.warn({ err: errorMessage(err) }, "garbage collection of superseded artifacts failed");
        return [];
      });
      if (removed.length) s.log.info({ removed }, "garbage collected superseded artifacts");
      for (const c of [FetchFailedCondition, StorageOperationFailedCondition, ArtifactOutdatedCondition]) removeCondition(obj, c);
      const message = `stored artifact: revision '${outcome.artifact.revision}'`;
      markTrue(obj, ArtifactInStorageCondition, SucceededReason, message);
      markReady(obj, SucceededReason, message);
      s.eventMetadata[revisionKey] = outcome.artifact.revision;
      if (outcome.artifact.digest) s.eventMetadata[digestKey] = outcome.artifact.digest;
      s.log.info({ revision: outcome.artifact.revision, stored: outcome.stored, objects: outcome.files, ms: Date.now() - s.startedAt }, outcome.stored ? "stored new artifact" : "artifact up to date");
      if (outcome.stored) s.event("Normal", "NewArtifact", `stored artifact with ${outcome.files} fetched files from '${spec.bucketName}' bucket`);
      return { requeueAfter: parseDuration(spec.interval) };
    } finally {
      await fs.promises.rm(scratch, { recursive: true, force: true });
    }
  }

  /** The S3 client for the spec and its secrets; secret problems are AuthenticationFailed, never showing a value. */
  private async connect(kube: KubeClient, obj: Bucket, signal: AbortSignal): Promise<Connection> {
    const spec = obj.spec;
    const ns = obj.metadata.namespace!;
    const provider = spec.provider ?? "generic";
    if (provider !== "generic" && provider !== "aws") {
      throw fetchError(UnsupportedFeatureReason, `provider '${provider}' is not supported by Mooring yet; use 'generic' or 'aws' with static keys`, { stalled: true });
    }
    if (spec.sts) throw fetchError(UnsupportedFeatureReason, "spec.sts is not supported by Mooring yet; use static keys in secretRef", { stalled: true });
    let credentials: Credentials | undefined;
    if (spec.secretRef) {
      const ref = `'${ns}/${spec.secretRef.name}'`;
      const get = await readSecret(kube, ns, spec.secretRef.name, signal);
      const accessKeyId = get("accesskey");
      const secretAccessKey = get("secretkey");
      if (!accessKeyId || !secretAccessKey) {
        throw fetchError(AuthenticationFailedReason, `invalid secret ${ref}: required fields 'accesskey' and 'secretkey'`);
      }
      credentials = { accessKeyId, secretAccessKey };
    } else if (provider === "aws") {
      throw fetchError(AuthenticationFailedReason, "provider 'aws' needs secretRef with 'accesskey' and 'secretkey' (IAM roles are not supported by Mooring yet)", { stalled: true });
    }
    let tlsOptions: { ca?: string; cert?: string; key?: string } | undefined;
    if (spec.certSecretRef) {
      const ref = `'${ns}/${spec.certSecretRef.name}'`;
      tlsOptions = tlsFrom(await readSecret(kube, ns, spec.certSecretRef.name, signal), ref, { cert: "tls.crt", key: "tls.key", ca: "ca.crt" });
      if (!tlsOptions.ca && !tlsOptions.cert) throw fetchError(AuthenticationFailedReason, `invalid secret ${ref}: certificate secret does not contain any TLS configuration ('ca.crt', or 'tls.crt' and 'tls.key')`);
    }
    let proxy: URL | undefined;
    if (spec.proxySecretRef) {
      const ref = `'${ns}/${spec.proxySecretRef.name}'`;
      const get = await readSecret(kube, ns, spec.proxySecretRef.name, signal);
      const address = get("address");
      if (!address) throw fetchError(AuthenticationFailedReason, `invalid proxy secret ${ref}: key 'address' is missing`);
      try {
        proxy = new URL(address);
      } catch {
        throw fetchError(AuthenticationFailedReason, `invalid proxy secret ${ref}: 'address' is not a URL`);
      }
      if (proxy.protocol !== "http:") throw fetchError(AuthenticationFailedReason, `invalid proxy secret ${ref}: only http:// proxies are supported`);
      const username = get("username");
      const password = get("password");
      if (username !== undefined || password !== undefined) {
        proxy.username = encodeURIComponent(username ?? "");
        proxy.password = encodeURIComponent(password ?? "");
      }
    }
    try {
      return { client: new S3Client({ endpoint: spec.endpoint, insecure: spec.insecure, region: spec.region, credentials, tls: tlsOptions, proxy, signal }) };
    } catch (err) {
      throw fetchError(URLInvalidReason, errorMessage(err), { stalled: true });
    }
  }

  /** The key → ETag index after ignore rules; the root .sourceignore is downloaded into `scratch` when present. */
  private async index(client: S3Client, obj: Bucket, scratch: string): Promise<BucketIndex> {
    const spec = obj.spec;
    const bucket = spec.bucketName;
    let matcher = new IgnoreMatcher();
    const ignoreFile = path.join(scratch, sourceIgnoreFile);
    try {
      await client.getObject(bucket, sourceIgnoreFile, ignoreFile, 1 << 20);
      matcher = matcher.with(parsePatterns(await fs.promises.readFile(ignoreFile, "utf8")));
    } catch (err) {
      if (!(err instanceof S3Error && err.kind === "not-found")) throw this.s3Failure(err, obj);
    }
    if (spec.ignore) matcher = matcher.with(parsePatterns(spec.ignore));
    const index: BucketIndex = new Map();
    const max = this.opts.maxObjectSize ?? defaultMaxObjectSize;
    try {
      await client.listObjects(bucket, spec.prefix, (o) => {
        if (o.key.endsWith("/") || o.key === sourceIgnoreFile || keyIgnored(matcher, o.key)) return;
        const unsafe = unsafeKeyReason(o.key);
        if (unsafe) throw fetchError(BucketOperationFailedReason, `object key '${o.key}' in bucket '${bucket}' is refused: ${unsafe}`);
        if (o.size > max) throw fetchError(BucketOperationFailedReason, `object '${o.key}' in bucket '${bucket}' is ${o.size} bytes, over the limit of ${max} bytes`);
        index.set(o.key, o.etag);
      });
    } catch (err) {
      if (err instanceof ReconcileError) throw err;
      throw this.s3Failure(err, obj, `indexation of objects from bucket '${bucket}' failed: `);
    }
    return index;
  }

  private async download(client: S3Client, obj: Bucket, index: BucketIndex, tree: string): Promise<void> {
    const bucket = obj.spec.bucketName;
    const max = this.opts.maxObjectSize ?? defaultMaxObjectSize;
    await fs.promises.mkdir(tree, { recursive: true });
    const keys = [...index.keys()];
    try {
      await forEachBounded(keys, this.opts.maxConcurrentFetches ?? defaultConcurrentFetches, async (key) => {
        const file = path.join(tree, ...key.split("/"));
        // unsafeKeyReason already refused these keys; the check here keeps a bad key from ever reaching the disk.
        if (!file.startsWith(tree + path.sep)) throw fetchError(BucketOperationFailedReason, `object key '${key}' points outside the artifact`);
        await fs.promises.mkdir(path.dirname(file), { recursive: true });
        try {
          const etag = await client.getObject(bucket, key, file, max);
          if (etag && etag !== index.get(key)) index.set(key, etag);
        } catch (err) {
          if (err instanceof S3Error && err.kind === "not-found") {
            index.delete(key); // removed between the listing and the download, as Flux treats it
            return;
          }
          throw err;
        }
      });
    } catch (err) {
      if (err instanceof ReconcileError) throw err;
      throw this.s3Failure(err, obj, `fetch from bucket '${bucket}' failed: `);
    }
  }

  private s3Failure(err: unknown, obj: Bucket, prefix = ""): ReconcileError {
    if (err instanceof ReconcileError) return err;
    if (err instanceof S3Error) {
      if (err.kind === "auth") return fetchError(AuthenticationFailedReason, `${prefix}${err.message}`, { cause: err });
      if (err.kind === "bucket-not-found") return fetchError(BucketOperationFailedReason, `bucket '${obj.spec.bucketName}' not found`, { cause: err });
      return fetchError(BucketOperationFailedReason, `${prefix}${err.message}`, { cause: err });
    }
    return fetchError(BucketOperationFailedReason, `${prefix}${errorMessage(err)}`, { cause: err });
  }

  private async store(obj: Bucket, tree: string, revision: string): Promise<{ artifact: Artifact; stored: boolean }> {
    const storage = this.storage;
    const dir = this.objectDir(obj);
    const rel = `${dir}/${revision.replace(/^sha256:/, "")}.tar.gz`;
    let temp: string | undefined;
    try {
      temp = await storage.tempFile(dir);
      const result = await writeArchive(tree, defaultMatcher(), temp);
      await storage.commit(temp, rel);
      temp = undefined;
      const current = obj.status?.artifact;
      const artifact: Artifact = { path: rel, url: storage.url(rel), revision, digest: result.digest, lastUpdateTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), size: result.size };
      return { artifact, stored: current?.digest !== result.digest || current.revision !== revision };
    } catch (err) {
      if (temp) await storage.discard(temp).catch(() => undefined);
      throw new ReconcileError(ArchiveOperationFailedReason, `unable to archive artifact to storage: ${errorMessage(err)}`, { condition: StorageOperationFailedCondition, cause: err });
    }
  }
}
