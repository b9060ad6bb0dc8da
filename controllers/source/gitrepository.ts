// The GitRepository reconciler: resolve the ref on the remote, fetch only when it moved (or the inputs
// changed), archive the tree without ignored files, store the artifact (one file per commit, a latest link,
// superseded ones kept per the retention), and report Flux's conditions: Reconciling=True while it works,
// ArtifactOutdated on a new upstream revision, then Ready and ArtifactInStorage.
import * as fs from "node:fs";
import { ArtifactReconciler } from "./artifactreconciler";
import * as os from "node:os";
import * as path from "node:path";
import { withDeadline } from "../runtime/abort";
import type { Action, ErrorPolicy } from "../runtime/controller";
import type { Session } from "../runtime/session";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { isTrue, markReady, markTrue, removeCondition, setCondition } from "../runtime/conditions";
import { FluxFinalizer, ProgressingReason, SucceededReason } from "../api/meta";
import { parseDuration } from "../api/duration";
import {
  ArtifactInStorageCondition,
  ArtifactOutdatedCondition,
  AuthenticationFailedReason,
  FetchFailedCondition,
  GitOperationFailedReason,
  GitRepositoryKind,
  IncludeUnavailableCondition,
  NewRevisionReason,
  SourceGroup,
  SourceVerifiedCondition,
  StorageOperationFailedCondition,
  StorageOperationFailedReason,
  URLInvalidReason,
  type Artifact,
  type GitRepository,
} from "../api/source";
import { GitError, GitSession, redactUrl, type GitAuth } from "./git";
import { normalizeMode, trustedKeys, VerificationError, verifiedMessage, verifyCheckout } from "./gitverify";
import { formatRevision, parseLsRemote, RefError, selectCheckout, type Checkout } from "./refs";
import { loadGitAuth, loadProxy, readSecretData } from "./secrets";
import { copyIncludes, resolveIncludes, type ResolvedInclude } from "./include";
import { buildMatcher } from "./sourceignore";
import { writeArchive } from "./tarball";
import { gitArtifactPath, type Storage } from "./storage";

export const SourceFinalizer = FluxFinalizer;

export interface GitRepositoryReconcilerOptions {
  /** The artifact storage; undefined until the artifact server has started. */
  storage: () => Storage | undefined;
  /** Reads other GitRepositories (for .spec.include) from the shared cache. */
  lookup: (key: string) => GitRepository | undefined;
  /** Scratch space for checkouts and git credentials (default: the OS temp directory). */
  tempDir?: string;
}

interface SyncOutcome {
  artifact: Artifact;
  included: Artifact[];
  /** A new artifact was stored (a new revision or new content: an Event is recorded). */
  stored: boolean;
  /** The remote was fetched (false when ls-remote showed nothing changed). */
  fetched: boolean;
  commitSubject?: string;
}

/** The event annotation Flux puts the artifact's revision under. */
const revisionMetadataKey = `${SourceGroup}/revision`;

const fetchError = (reason: string, message: string, cause?: unknown) => new ReconcileError(reason, message, { condition: FetchFailedCondition, cause });

/** How a GitRepository's failures are reported: FetchFailed with GitOperationFailed unless the error says otherwise. */
export const gitRepositoryErrorPolicy: ErrorPolicy<GitRepository> = { reason: GitOperationFailedReason, condition: FetchFailedCondition };

export class GitRepositoryReconciler extends ArtifactReconciler<GitRepository> {
  constructor(private readonly opts: GitRepositoryReconcilerOptions) {
    super(() => opts.storage(), GitRepositoryKind.kind);
  }

  protected produce(s: Session<GitRepository>): Promise<Action> {
    return this.storeArtifact(s);
  }

  /** Fetch (when the ref moved or the inputs changed), archive, store; then Ready and ArtifactInStorage. */
  private async storeArtifact(s: Session<GitRepository>): Promise<Action> {
    const { obj } = s;
    const status = (obj.status ??= {});
    s.progressingOnNewGeneration();
    const outcome = await this.sync(s);
    s.eventMetadata[revisionMetadataKey] = outcome.artifact.revision;
    const removed = await this.storage.garbageCollect(this.objectDir(obj), outcome.artifact.path).catch((err: unknown) => {
      s.log.warn({ err: errorMessage(err) }, "garbage collection of superseded artifacts failed");
      return [];
    });
    if (removed.length) s.log.info({ removed }, "garbage collected superseded artifacts");
    const message = `stored artifact for revision '${outcome.artifact.revision}'`;
    status.artifact = outcome.artifact;
    status.includedArtifacts = outcome.included.length ? outcome.included : undefined;
    status.observedIgnore = obj.spec.ignore;
    status.observedInclude = obj.spec.include;
    status.observedRecurseSubmodules = obj.spec.recurseSubmodules || undefined;
    status.observedSparseCheckout = obj.spec.sparseCheckout?.length ? obj.spec.sparseCheckout : undefined;
    if (!obj.spec.verify) {
      status.sourceVerificationMode = undefined;
      removeCondition(obj, SourceVerifiedCondition);
    }
    for (const c of [FetchFailedCondition, IncludeUnavailableCondition, StorageOperationFailedCondition, ArtifactOutdatedCondition]) removeCondition(obj, c);
    markTrue(obj, ArtifactInStorageCondition, SucceededReason, message);
    markReady(obj, SucceededReason, message);
    s.log.info({ revision: outcome.artifact.revision, fetched: outcome.fetched, stored: outcome.stored, ms: Date.now() - s.startedAt }, outcome.stored ? "stored new artifact" : "artifact up to date");
    if (outcome.stored) s.event("Normal", "NewArtifact", outcome.commitSubject ? `stored artifact for commit '${outcome.commitSubject}'` : message);
    return { requeueAfter: parseDuration(obj.spec.interval) };
  }

  private async sync(s: Session<GitRepository>): Promise<SyncOutcome> {
    const { obj, client } = s;
    const url = parseGitUrl(obj.spec.url);
    return withDeadline(s.signal, parseDuration(obj.spec.timeout ?? "60s"), async (signal) => {
      const auth: GitAuth = obj.spec.secretRef ? await loadGitAuth(client, obj.metadata.namespace!, obj.spec.secretRef.name, url, signal) : {};
      if (obj.spec.proxySecretRef) auth.proxy = await loadProxy(client, obj.metadata.namespace!, obj.spec.proxySecretRef.name, signal);
      const session = await GitSession.open(url, auth, this.opts.tempDir);
      try {
        const checkout = await this.resolveRef(obj, session, signal);
        const includes = resolveIncludes(obj, this.opts.lookup);
        const current = obj.status?.artifact;
        const expected = checkout.sha ? formatRevision(checkout.name, checkout.sha) : checkout.commit?.length === 40 ? formatRevision(checkout.name, checkout.commit) : undefined;
        if (current && expected && current.revision === expected && this.inputsUnchanged(obj, includes) && current.path === this.artifactPath(obj, expected) && this.storage.exists(current.path)) {
          return { artifact: { ...current, url: this.storage.url(current.path) }, included: includes.map((i) => i.artifact), stored: false, fetched: false };
        }
        this.markProgress(s, expected);
        return await this.fetchAndStore(s, session, checkout, includes, signal);
      } finally {
        await session.dispose();
      }
    });
  }

  /**
   * Reconciling=True (Ready=Unknown) while the new artifact is built, as Flux reports it, written if the fetch
   * takes more than a moment; a new upstream revision also marks the stored artifact ArtifactOutdated.
   */
  private markProgress(s: Session<GitRepository>, revision: string | undefined): void {
    const current = s.obj.status?.artifact;
    if (revision && current?.revision !== revision) {
      const message = `new upstream revision '${revision}'`;
      if (current) markTrue(s.obj, ArtifactOutdatedCondition, NewRevisionReason, message);
      s.progressing(ProgressingReason, `building artifact: ${message}`);
    } else if (!current || !this.storage.exists(current.path)) {
      s.progressing(ProgressingReason, "building artifact: disappeared from storage");
    } else {
      s.progressing(ProgressingReason, "building artifact: source inputs changed");
    }
  }

  /** Where the artifact of a commit is stored: "gitrepository/<namespace>/<name>/<sha>.tar.gz". */
  private artifactPath(obj: GitRepository, revision: string): string {
    return gitArtifactPath(obj.metadata.namespace!, obj.metadata.name, revision);
  }

  /**
   * Checks the signatures .spec.verify asks for; on failure SourceVerified=False with Flux's reason and nothing
   * is stored. On success SourceVerified=True names the objects and keys, and the mode is recorded.
   */
  private async verify(s: Session<GitRepository>, session: GitSession, tree: string, checkout: Checkout, signal: AbortSignal): Promise<void> {
    const { obj } = s;
    const verify = obj.spec.verify!;
    const mode = normalizeMode(verify.mode);
    const failed = (reason: string, message: string, stalled = false, cause?: unknown): ReconcileError => {
      setCondition(obj, SourceVerifiedCondition, "False", reason, message);
      return new ReconcileError(reason, message, { stalled, cause });
    };
    let data: Record<string, string>;
    try {
      data = await readSecretData(s.client, obj.metadata.namespace!, verify.secretRef.name, signal, (m, cause) => new Error(m, { cause }));
    } catch (err) {
      throw failed("VerificationError", `public keys secret error: ${errorMessage(err)}`, false, err);
    }
    const tagRef = checkout.fetchRef?.startsWith("refs/tags/") ? checkout.fetchRef : undefined;
    try {
      const verified = await verifyCheckout(session, tree, mode, tagRef, trustedKeys(data), signal);
      const message = verifiedMessage(verified);
      markTrue(obj, SourceVerifiedCondition, SucceededReason, message);
      obj.status!.sourceVerificationMode = mode;
      s.log.info({ verified: verified.map((v) => `${v.object} ${v.name} key ${v.key}`) }, "signatures verified");
    } catch (err) {
      if (err instanceof VerificationError) throw failed(err.reason, err.message, err.stalled, err);
      throw failed("VerificationError", `signature verification failed: ${errorMessage(err)}`, false, err);
    }
  }

  private async resolveRef(obj: GitRepository, session: GitSession, signal: AbortSignal): Promise<Checkout> {
    const bareCommit = obj.spec.ref?.commit && !obj.spec.ref.branch;
    let refs;
    if (!bareCommit) {
      try {
        refs = parseLsRemote(await session.lsRemote(obj.spec.url, signal));
      } catch (err) {
        throw gitFailure(err);
      }
    }
    try {
      return selectCheckout(obj.spec.ref, refs);
    } catch (err) {
      if (err instanceof RefError) throw fetchError(GitOperationFailedReason, `failed to checkout and determine revision: ${err.message} in '${redactUrl(obj.spec.url)}'`, err);
      throw err;
    }
  }

  private inputsUnchanged(obj: GitRepository, includes: ResolvedInclude[]): boolean {
    const st = obj.status ?? {};
    if ((st.observedIgnore ?? undefined) !== (obj.spec.ignore ?? undefined)) return false;
    if (JSON.stringify(st.observedInclude ?? []) !== JSON.stringify(obj.spec.include ?? [])) return false;
    if (Boolean(st.observedRecurseSubmodules) !== Boolean(obj.spec.recurseSubmodules)) return false;
    if (JSON.stringify(st.observedSparseCheckout ?? []) !== JSON.stringify(obj.spec.sparseCheckout ?? [])) return false;
    // A verified artifact stays only while the same verification still holds for it.
    if (obj.spec.verify && (st.sourceVerificationMode !== normalizeMode(obj.spec.verify.mode) || !isTrue(obj, SourceVerifiedCondition))) return false;
    const was = (st.includedArtifacts ?? []).map((a) => a.digest).join(",");
    return was === includes.map((i) => i.artifact.digest).join(",");
  }

  private async fetchAndStore(s: Session<GitRepository>, session: GitSession, checkout: Checkout, includes: ResolvedInclude[], signal: AbortSignal): Promise<SyncOutcome> {
    const { storage } = this;
    const { obj } = s;
    const scratch = await fs.promises.mkdtemp(path.join(this.opts.tempDir ?? os.tmpdir(), "mooring-src-"));
    try {
      const tree = path.join(scratch, "tree");
      let sha: string;
      try {
        sha = await session.checkout(obj.spec.url, tree, checkout, signal, { sparse: obj.spec.sparseCheckout, recurseSubmodules: obj.spec.recurseSubmodules });
      } catch (err) {
        throw gitFailure(err);
      }
      const revision = formatRevision(checkout.name, sha);
      if (obj.spec.verify) await this.verify(s, session, tree, checkout, signal);
      const commitSubject = await session.commitSubject(tree, signal).catch(() => undefined);
      await removeGitMetadata(tree);
      await copyIncludes(includes, storage, tree, scratch);
      const matcher = await buildMatcher(tree, obj.spec.ignore);
      const dir = this.objectDir(obj);
      const current = obj.status?.artifact;
      let temp: string | undefined;
      try {
        temp = await storage.tempFile(dir);
        const { digest, size } = await writeArchive(tree, matcher, temp);
        const included = includes.map((i) => i.artifact);
        // One file per commit, replaced when the same commit is archived again with other inputs (ignore rules).
        const rel = this.artifactPath(obj, revision);
        await storage.commit(temp, rel);
        temp = undefined;
        await storage.linkLatest(rel);
        const stored = current?.revision !== revision || current.digest !== digest;
        const lastUpdateTime = stored || !current?.lastUpdateTime ? new Date().toISOString().replace(/\.\d{3}Z$/, "Z") : current.lastUpdateTime;
        const artifact: Artifact = { path: rel, url: storage.url(rel), revision, digest, lastUpdateTime, size };
        return { artifact, included, stored, fetched: true, commitSubject };
      } catch (err) {
        if (temp) await storage.discard(temp).catch(() => undefined);
        if (err instanceof ReconcileError) throw err;
        throw new ReconcileError(StorageOperationFailedReason, `failed to store artifact: ${errorMessage(err)}`, { condition: StorageOperationFailedCondition, cause: err });
      }
    } finally {
      await fs.promises.rm(scratch, { recursive: true, force: true });
    }
  }
}

/**
 * Removes git's metadata from a checkout: the repository's .git directory and the `.git` files and
 * directories of submodules, which the archive must not carry.
 */
async function removeGitMetadata(tree: string): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.promises.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.name === ".git") await fs.promises.rm(p, { recursive: true, force: true });
      else if (e.isDirectory()) await walk(p);
    }
  };
  await walk(tree);
}

/** Validates .spec.url beyond the CRD pattern: it must parse and name a host. */
export function parseGitUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ReconcileError(URLInvalidReason, `invalid URL '${redactUrl(raw)}': cannot be parsed`, { condition: FetchFailedCondition, stalled: true });
  }
  if (!["http:", "https:", "ssh:"].includes(url.protocol))
    throw new ReconcileError(URLInvalidReason, `invalid URL '${redactUrl(raw)}': scheme must be http, https or ssh`, { condition: FetchFailedCondition, stalled: true });
  if (!url.hostname) throw new ReconcileError(URLInvalidReason, `invalid URL '${redactUrl(raw)}': no host`, { condition: FetchFailedCondition, stalled: true });
  return url;
}

function gitFailure(err: unknown): ReconcileError {
  if (err instanceof ReconcileError) return err;
  if (err instanceof GitError) {
    const reason = err.kind === "auth" ? AuthenticationFailedReason : GitOperationFailedReason;
    return fetchError(reason, `failed to checkout and determine revision: ${err.message}`, err);
  }
  return fetchError(GitOperationFailedReason, `failed to checkout and determine revision: ${errorMessage(err)}`, err);
}
