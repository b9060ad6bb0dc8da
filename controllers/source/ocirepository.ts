// The OCIRepository reconciler: resolve the reference (digest, highest tag in a semver range after an optional
// tag filter, tag, or 'latest') to a manifest digest — revision "<tag>@sha256:<hex>" or "sha256:<hex>", as Flux
// writes it — pull the selected layer (first, or by media type), and store it as
// "ocirepository/<ns>/<name>/<hex>.tar.gz": extracted and archived again without ignored files, or copied as is.
import * as fs from "node:fs";
import { ArtifactReconciler } from "./artifactreconciler";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar";
import { withDeadline } from "../runtime/abort";
import type { Action, ErrorPolicy } from "../runtime/controller";
import type { Session } from "../runtime/session";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { markReady, markTrue, removeCondition } from "../runtime/conditions";
import { ProgressingReason, SucceededReason } from "../api/meta";
import { parseDuration } from "../api/duration";
import { ArtifactInStorageCondition, ArtifactOutdatedCondition, FetchFailedCondition, NewRevisionReason, SourceGroup, StorageOperationFailedCondition, URLInvalidReason, type Artifact } from "../api/source";
import { ArchiveOperationFailedReason } from "../api/source-helm";
import { OCILayerOperationFailedReason, OCIPullFailedReason, OCIRepositoryKind, OCIRevisionAnnotation, OCISourceAnnotation, ReadOperationFailedReason, type OCIRepository } from "../api/source-oci";
import { parseHelmConstraint, parseHelmVersion, satisfies, compareHelmVersions, ConstraintError } from "./helmsemver";
import { parseOciUrl, RegistryClient, RegistryError, type Descriptor } from "./registry";
import { loadRegistryAuth } from "./ocisecrets";
import { buildMatcher } from "./sourceignore";
import { writeArchive } from "./tarball";
import { sha256Digest } from "./helmindex";
import type { Storage } from "./storage";

export interface OCIRepositoryReconcilerOptions {
  storage: () => Storage | undefined;
  tempDir?: string;
  /** Largest layer accepted, and largest extracted content, in bytes. */
  maxLayerSize?: number;
}

const revisionKey = `${SourceGroup}/revision`;
const digestKey = `${SourceGroup}/digest`;
const defaultMaxLayerSize = 512 << 20;

const fetchError = (reason: string, message: string, opts: { stalled?: boolean; cause?: unknown } = {}) => new ReconcileError(reason, message, { condition: FetchFailedCondition, ...opts });

export const ociRepositoryErrorPolicy: ErrorPolicy<OCIRepository> = { reason: OCIPullFailedReason, condition: FetchFailedCondition };

/** The digest part of a revision ("v1@sha256:<hex>" → "sha256:<hex>"). */
export function digestOfRevision(revision: string): string {
  return revision.slice(revision.lastIndexOf("@") + 1);
}

/** The highest tag satisfying the range, after the filter; undefined when none. */
export function pickSemverTag(tags: readonly string[], range: string, filter?: string): string | undefined {
  let re: RegExp | undefined;
  if (filter) {
    try {
      re = new RegExp(filter);
    } catch (err) {
      throw new ConstraintError(`semverFilter '${filter}' is not a regular expression: ${(err as Error).message}`);
    }
  }
  const constraint = parseHelmConstraint(range);
  let best: { tag: string; v: NonNullable<ReturnType<typeof parseHelmVersion>> } | undefined;
  for (const tag of tags) {
    if (re && !re.test(tag)) continue;
    const v = parseHelmVersion(tag);
    if (!v || !satisfies(v, constraint)) continue;
    if (!best || compareHelmVersions(v, best.v) > 0) best = { tag, v };
  }
  return best?.tag;
}

/** Extracts a tar(.gz) layer into `dir`: regular files and directories only, no path outside, at most `max` bytes. */
export async function extractLayer(blob: Buffer, dir: string, max: number): Promise<void> {
  let total = 0;
  let problem: Error | undefined;
  await pipeline(
    Readable.from([blob]),
    tar.x({
      cwd: dir,
      strict: true,
      preservePaths: false,
      noChmod: true,
      preserveOwner: false,
      filter: (p, entry) => {
        const e = entry as tar.ReadEntry;
        const rel = path.posix.normalize(p.replace(/\\/g, "/"));
        if (rel.startsWith("../") || rel === ".." || path.posix.isAbsolute(rel)) {
          problem ??= new Error(`layer entry '${p}' points outside the artifact`);
          return false;
        }
        if (e.type !== "File" && e.type !== "Directory" && e.type !== "OldFile" && e.type !== "ContiguousFile") return false; // links and devices are skipped, as Flux does
        total += e.size ?? 0;
        if (total > max) {
          problem ??= new Error(`layer content is over the limit of ${max} bytes`);
          return false;
        }
        return true;
      },
    }),
  );
  if (problem) throw problem;
}

export class OCIRepositoryReconciler extends ArtifactReconciler<OCIRepository> {
  constructor(private readonly opts: OCIRepositoryReconcilerOptions) {
    super(() => opts.storage(), OCIRepositoryKind.kind);
  }

  protected produce(s: Session<OCIRepository>): Promise<Action> {
    return this.storeArtifact(s);
  }

  private contentConfigUnchanged(obj: OCIRepository): boolean {
    const st = obj.status ?? {};
    return (st.observedIgnore ?? undefined) === (obj.spec.ignore ?? undefined) && JSON.stringify(st.observedLayerSelector ?? null) === JSON.stringify(obj.spec.layerSelector ?? null);
  }

  private async storeArtifact(s: Session<OCIRepository>): Promise<Action> {
    const { obj } = s;
    const status = (obj.status ??= {});
    s.progressingOnNewGeneration();
    let target;
    try {
      target = parseOciUrl(obj.spec.url);
    } catch (err) {
      throw fetchError(URLInvalidReason, `URL validation failed for '${obj.spec.url}': ${errorMessage(err)}`, { stalled: true });
    }
    const outcome = await withDeadline(s.signal, parseDuration(obj.spec.timeout ?? "60s"), async (signal) => {
      const auth = await loadRegistryAuth(s.client, obj.metadata.namespace!, obj.spec, target.registry, signal);
      const client = new RegistryClient({ ...target, ...auth, insecure: obj.spec.insecure, signal });
      const { reference, tag } = await this.reference(obj, client);
      let revision: string;
      try {
        const digest = tag === undefined ? reference : await client.resolve(reference);
        revision = tag === undefined ? digest : `${tag}@${digest}`;
      } catch (err) {
        throw fetchError(OCIPullFailedReason, `failed to determine artifact digest: ${errorMessage(err)}`, { cause: err });
      }
      const current = status.artifact;
      if (current?.revision === revision && this.contentConfigUnchanged(obj) && this.storage.exists(current.path)) {
        return { artifact: { ...current, url: this.storage.url(current.path) }, stored: false };
      }
      const message = `new revision '${revision}' for '${target.registry}/${target.repository}${tag === undefined ? `@${reference}` : `:${tag}`}'`;
      if (current && current.revision !== revision) markTrue(obj, ArtifactOutdatedCondition, NewRevisionReason, message);
      s.progressing(ProgressingReason, `building artifact: ${message}`);
      return this.pull(obj, client, revision);
    });
    const storage = this.storage;
    status.url = storage.url(await storage.linkLatest(outcome.artifact.path));
    status.artifact = outcome.artifact;
    status.observedIgnore = obj.spec.ignore;
    status.observedLayerSelector = obj.spec.layerSelector;
    const removed = await storage.garbageCollect(this.objectDir(obj), outcome.artifact.path).catch((err: unknown) => {
      s.log.warn({ err: errorMessage(err) }, "garbage collection of superseded artifacts failed");
      return [];
    });
    if (removed.length) s.log.info({ removed }, "garbage collected superseded artifacts");
    for (const c of [FetchFailedCondition, StorageOperationFailedCondition, ArtifactOutdatedCondition]) removeCondition(obj, c);
    const message = `stored artifact for digest '${outcome.artifact.revision}'`;
    markTrue(obj, ArtifactInStorageCondition, SucceededReason, message);
    markReady(obj, SucceededReason, message);
    s.eventMetadata[revisionKey] = outcome.artifact.revision;
    if (outcome.artifact.digest) s.eventMetadata[digestKey] = outcome.artifact.digest;
    s.log.info({ revision: outcome.artifact.revision, stored: outcome.stored, ms: Date.now() - s.startedAt }, outcome.stored ? "stored new artifact" : "artifact up to date");
    if (outcome.stored) {
      const meta = outcome.artifact.metadata ?? {};
      const origin = meta[OCISourceAnnotation] && meta[OCIRevisionAnnotation] ? `, origin source '${meta[OCISourceAnnotation]}', origin revision '${meta[OCIRevisionAnnotation]}'` : "";
      s.event("Normal", "NewArtifact", `stored artifact with revision '${outcome.artifact.revision}' from '${obj.spec.url}'${origin}`);
    }
    return { requeueAfter: parseDuration(obj.spec.interval) };
  }

  /** The manifest reference to pull and the tag it came from (none for a digest). */
  private async reference(obj: OCIRepository, client: RegistryClient): Promise<{ reference: string; tag?: string }> {
    const ref = obj.spec.ref ?? {};
    if (ref.digest) {
      if (!/^sha256:[a-f0-9]{64}$/.test(ref.digest)) throw fetchError(URLInvalidReason, `invalid digest '${ref.digest}': want 'sha256:<64 hex digits>'`, { stalled: true });
      return { reference: ref.digest };
    }
    if (ref.semver) {
      let tag: string | undefined;
      try {
        tag = pickSemverTag(await client.tags(), ref.semver, ref.semverFilter);
      } catch (err) {
        if (err instanceof ConstraintError) throw fetchError(ReadOperationFailedReason, `failed to determine the artifact tag for '${obj.spec.url}': semver '${ref.semver}' parse error: ${err.message}`, { stalled: true, cause: err });
        throw fetchError(ReadOperationFailedReason, `failed to determine the artifact tag for '${obj.spec.url}': ${errorMessage(err)}`, { cause: err });
      }
      if (!tag) throw fetchError(ReadOperationFailedReason, `failed to determine the artifact tag for '${obj.spec.url}': no match found for semver: ${ref.semver}`);
      return { reference: tag, tag };
    }
    const tag = ref.tag || "latest";
    return { reference: tag, tag };
  }

  private async pull(obj: OCIRepository, client: RegistryClient, revision: string): Promise<{ artifact: Artifact; stored: boolean }> {
    const max = this.opts.maxLayerSize ?? defaultMaxLayerSize;
    const digest = digestOfRevision(revision);
    let manifest;
    let blob: Buffer;
    try {
      manifest = (await client.manifest(digest)).manifest;
    } catch (err) {
      throw fetchError(OCIPullFailedReason, `failed to pull artifact from '${obj.spec.url}': ${errorMessage(err)}`, { cause: err });
    }
    const wanted = obj.spec.layerSelector?.mediaType;
    if (manifest.layers.length === 0) throw fetchError(OCILayerOperationFailedReason, "no layers found in artifact");
    const layer: Descriptor | undefined = wanted ? manifest.layers.find((l) => l.mediaType === wanted) : manifest.layers[0];
    if (!layer) throw fetchError(OCILayerOperationFailedReason, `failed to find layer with media type '${wanted}' in artifact`);
    try {
      blob = await client.blob(layer, max);
    } catch (err) {
      throw fetchError(OCIPullFailedReason, `failed to pull artifact from '${obj.spec.url}': ${errorMessage(err)}`, { cause: err });
    }
    const storage = this.storage;
    const dir = this.objectDir(obj);
    const rel = `${dir}/${digest.replace(/^sha256:/, "")}.tar.gz`;
    const current = obj.status?.artifact;
    let temp: string | undefined;
    const scratch = await fs.promises.mkdtemp(path.join(this.opts.tempDir ?? os.tmpdir(), "mooring-oci-"));
    try {
      temp = await storage.tempFile(dir);
      let result: { digest: string; size: number };
      if (obj.spec.layerSelector?.operation === "copy") {
        await fs.promises.writeFile(temp, blob);
        result = { digest: sha256Digest(blob), size: blob.length };
      } else {
        const tree = path.join(scratch, "tree");
        await fs.promises.mkdir(tree);
        try {
          await extractLayer(blob, tree, max);
        } catch (err) {
          throw fetchError(OCILayerOperationFailedReason, `failed to extract layer contents from artifact: ${errorMessage(err)}`, { cause: err });
        }
        result = await writeArchive(tree, await buildMatcher(tree, obj.spec.ignore), temp);
      }
      await storage.commit(temp, rel);
      temp = undefined;
      const stored = current?.digest !== result.digest || current.revision !== revision;
      const artifact: Artifact = { path: rel, url: storage.url(rel), revision, digest: result.digest, lastUpdateTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), size: result.size };
      if (manifest.annotations && Object.keys(manifest.annotations).length) artifact.metadata = manifest.annotations;
      return { artifact, stored };
    } catch (err) {
      if (temp) await storage.discard(temp).catch(() => undefined);
      if (err instanceof ReconcileError) throw err;
      throw new ReconcileError(ArchiveOperationFailedReason, `unable to store artifact: ${errorMessage(err)}`, { condition: StorageOperationFailedCondition, cause: err });
    } finally {
      await fs.promises.rm(scratch, { recursive: true, force: true });
    }
  }
}

export { RegistryError };
