// The Kustomization reconciler: source artifact → build → staged server-side apply → inventory → prune →
// health → status, with Flux's conditions, reasons and events. Failures end in Ready=False with a message
// naming the file or object; nothing from a failing build is applied. The lifecycle (fresh object, finalizer,
// suspend, status commit, errors → conditions, retries) is the runtime's: see runtime/session.ts.
import { withDeadline } from "../runtime/abort";
import type { Action, ErrorPolicy, Reconciler } from "../runtime/controller";
import type { Session } from "../runtime/session";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { ArtifactError } from "./artifact";
import { getCondition, markReady, markReconciling, markTrue, markFalse, markUnknown, removeCondition } from "../runtime/conditions";
import { isNotFound, type KubeClient } from "../runtime/kube";
import { FluxFinalizer, ProgressingReason, ReadyCondition, SucceededReason } from "../api/meta";
import { durationOr, parseDuration } from "../api/duration";
import {
  DependencyNotReadyReason,
  HealthCheckFailedReason,
  HealthyCondition,
  KustomizeGroup,
  PruneFailedReason,
  ReconciliationFailedReason,
  ReconciliationSucceededReason,
  type InventoryEntry,
  type Kustomization,
} from "../api/kustomize";
import { ArtifactFailedReason } from "../api/source";
import { ApplyError, ResourceManager, changeSetSummary, countActions, type ChangeSet } from "./apply";
import { buildKey, buildManifests, substitutionVars } from "./pipeline";
import { getSource, sourceKey, type SourceObject } from "./source";
import { dependenciesNotReady } from "./dependencies";
import { formatDuration, manifestsDigest, recordHistory } from "./history";
import { kustomizationTimeoutMs } from "./timeout";
import { formatId, inventoryOf, parseId, staleEntries, type Manifest } from "./inventory";
import { checkHealth, healthTargets } from "./wait";
import type { RestMapper } from "./restmapper";
import type { DriftWatcher } from "./drift";
import type { ArtifactCache } from "./artifactcache";

export { progressStatusDelayMs } from "../runtime/session";

export const KustomizeFinalizer = FluxFinalizer;

export interface KustomizeReconcilerOptions {
  kustomizePath: string;
  noCrossNamespaceRefs: boolean;
  noRemoteBases: boolean;
  strictSubstitutions: boolean;
  defaultServiceAccount?: string;
  requeueDependencyMs: number;
  mapper: RestMapper;
  /** The client to apply with: the controller's own, or one impersonating the ServiceAccount. */
  clientFor: (serviceAccount: string | undefined, namespace: string) => Promise<KubeClient>;
  lookupKustomization: (key: string) => Kustomization | undefined;
  lookupSource?: (kind: string, key: string) => SourceObject | undefined;
  /** End a health check when the source has a newer revision, and reconcile that one (Flux's feature gate of this name). */
  cancelHealthCheckOnNewRevision?: boolean;
  /** Check a dependency's Ready condition after its readyExpr as well (Flux's AdditiveCELDependencyCheck feature gate). */
  additiveCelDependencyCheck?: boolean;
  drift?: DriftWatcher;
  /** Unpacked artifacts shared by all builds (one download per revision, not per Kustomization). */
  artifacts?: ArtifactCache;
}

/** Failures are ReconciliationFailed unless the error says otherwise, retried after spec.retryInterval (default spec.interval). */
export const kustomizationErrorPolicy: ErrorPolicy<Kustomization> = {
  reason: ReconciliationFailedReason,
  retryAfter: (ks, backoffMs) => durationOr(ks.spec.retryInterval, durationOr(ks.spec.interval, backoffMs)),
};

/** One reconcile's budget: spec.timeout (default spec.interval − 30 s, at least 30 s) from its start. */
interface Run {
  session: Session<Kustomization>;
  obj: Kustomization;
  signal: AbortSignal;
  timeoutMs: number;
}

interface BuildCacheEntry {
  key: string;
  /** The manifests as JSON: compact, and each reconcile gets its own copy to work on. */
  json: string;
  /** manifestsDigest of the manifests, for status.history. */
  digest: string;
}

/** A build's manifests and their digest. */
interface Built {
  manifests: Manifest[];
  digest: string;
}

/** The event annotation Flux puts the reconciled revision under. */
const revisionMetadataKey = `${KustomizeGroup}/revision`;
/** The annotation that tells the notification-controller a success event may update a commit status. */
const commitStatusMetadata = { [`${KustomizeGroup}/commit_status`]: "update" };

/** The reconcile budget of a Kustomization, as Flux computes it (see timeout.ts). */
export function reconcileTimeoutMs(ks: Kustomization): number {
  return kustomizationTimeoutMs(parseDuration(ks.spec.interval), ks.spec.timeout ? parseDuration(ks.spec.timeout) : undefined);
}

const keyOf = (ks: Kustomization): string => `${ks.metadata.namespace}/${ks.metadata.name}`;

export class KustomizationReconciler implements Reconciler<Kustomization> {
  private readonly builds = new Map<string, BuildCacheEntry>();

  constructor(private readonly opts: KustomizeReconcilerOptions) {}

  reconcile(s: Session<Kustomization>): Promise<Action | void> {
    return s.withFinalizer(
      () => {
        const timeoutMs = reconcileTimeoutMs(s.obj);
        return withDeadline(s.signal, timeoutMs, (signal) => this.sync({ session: s, obj: s.obj, signal, timeoutMs }));
      },
      () => this.finalize(s),
    );
  }

  /** Source → dependencies → build → apply → prune → health → Ready. Throws ReconcileErrors. */
  private async sync(run: Run): Promise<Action> {
    const { obj, session: s } = run;
    const status = (obj.status ??= {});
    const source = await getSource(obj, { client: s.client, noCrossNamespaceRefs: this.opts.noCrossNamespaceRefs, cached: this.opts.lookupSource, signal: run.signal });
    const artifact = source.status?.artifact;
    if (!artifact) throw new ReconcileError(ArtifactFailedReason, `Source '${sourceKey(obj)}' is not ready, artifact not found`);
    const revision = artifact.revision;
    s.eventMetadata[revisionMetadataKey] = revision;
    const waiting = dependenciesNotReady(obj, {
      lookup: this.opts.lookupKustomization,
      sourceRevision: (key) => this.sourceRevision(key),
      additiveCelDependencyCheck: this.opts.additiveCelDependencyCheck,
    });
    if (waiting) {
      markReconciling(obj, DependencyNotReadyReason, waiting);
      markFalse(obj, ReadyCondition, DependencyNotReadyReason, waiting);
      status.observedGeneration = obj.metadata.generation;
      s.log.info({ reason: DependencyNotReadyReason, message: waiting, retryInMs: this.opts.requeueDependencyMs }, "dependencies not ready");
      return { requeueAfter: this.opts.requeueDependencyMs };
    }
    const isNew = status.lastAttemptedRevision !== revision || status.observedGeneration !== obj.metadata.generation || getCondition(obj, ReadyCondition)?.status !== "True";
    status.lastAttemptedRevision = revision;
    if (isNew || s.requested) s.progressing(ProgressingReason, `Fetching manifests for revision ${revision} with a timeout of ${formatDuration(run.timeoutMs)}`);
    const vars = await substitutionVars(obj, s.client, run.signal);
    // A new source-controller pod rebuilds the artifacts its storage lost; no event brings the same revision
    // back, so a 404 asks again soon rather than at the retry interval.
    const built = await this.build(obj, artifact, vars, run.signal, s).catch((err: unknown) => {
      if (err instanceof ReconcileError && err.cause instanceof ArtifactError && err.cause.notFound) return err;
      throw err;
    });
    if (built instanceof ReconcileError) {
      const message = `Source is not ready, artifact not found, retrying in ${formatDuration(this.opts.requeueDependencyMs)}`;
      markFalse(obj, ReadyCondition, ArtifactFailedReason, message);
      status.observedGeneration = obj.metadata.generation;
      s.log.info({ reason: ArtifactFailedReason, error: built.message, retryInMs: this.opts.requeueDependencyMs }, "artifact not found");
      return { requeueAfter: this.opts.requeueDependencyMs };
    }
    const { manifests, digest } = built;
    const client = await this.opts.clientFor(obj.spec.serviceAccountName || this.opts.defaultServiceAccount, obj.metadata.namespace!);
    const record = (reason: string) => {
      status.history = recordHistory(status.history, { digest, at: new Date(), durationMs: Date.now() - s.startedAt, status: reason, revision, originRevision: originRevisionOf(artifact) });
    };
    let changes: ChangeSet;
    let canceled: string | undefined;
    try {
      changes = await this.applyAndPrune(run, client, manifests, revision);
      const summary = changeSetSummary(changes);
      if (summary) s.event("Normal", ReconciliationSucceededReason, summary);
      canceled = await this.checkHealth(run, client, manifests, changes, revision);
    } catch (err) {
      // Apply, prune and health failures are part of the history; an interrupted reconcile is not.
      if (err instanceof ReconcileError) record(err.reason);
      throw err;
    }
    if (canceled) {
      // The objects of this revision are applied; their health no longer matters: the next one goes next.
      markReconciling(obj, ProgressingReason, canceled);
      markUnknown(obj, ReadyCondition, ProgressingReason, canceled);
      s.log.info({ revision, ms: Date.now() - s.startedAt }, canceled);
      return { requeueAfter: 1 };
    }
    status.lastAppliedRevision = revision;
    status.lastAppliedOriginRevision = originRevisionOf(artifact);
    markReady(obj, ReconciliationSucceededReason, `Applied revision: ${revision}`);
    record(ReconciliationSucceededReason);
    const finished = `Reconciliation finished in ${formatDuration(Date.now() - s.startedAt)}, next run in ${formatDuration(parseDuration(obj.spec.interval))}`;
    s.event("Normal", ReconciliationSucceededReason, finished, undefined, commitStatusMetadata);
    s.log.info({ revision, ms: Date.now() - s.startedAt }, finished);
    return { requeueAfter: parseDuration(obj.spec.interval) };
  }

  /** Staged apply, then the inventory, then prune of what left the build (with spec.prune). */
  private async applyAndPrune(run: Run, client: KubeClient, manifests: Manifest[], revision: string): Promise<ChangeSet> {
    const { obj, session: s } = run;
    const status = obj.status!;
    const rm = this.resourceManager(client, keyOf(obj));
    const oldInventory = status.inventory?.entries ?? [];
    let changes: ChangeSet;
    try {
      changes = await rm.applyAllStaged(manifests, { force: obj.spec.force === true, signal: run.signal, waitTimeoutMs: run.timeoutMs, previous: new Set(oldInventory.map((e) => e.id)) });
    } catch (err) {
      if (!(err instanceof ApplyError)) throw err;
      // Keep what was applied before the failure in the inventory, so a later prune can find it.
      status.inventory = { entries: mergeInventory(oldInventory, err.changes) };
      throw new ReconcileError(ReconciliationFailedReason, err.message, { cause: err });
    }
    const inventory = inventoryOf(manifests);
    this.opts.drift?.retain(keyOf(obj), new Set(inventory.map((e) => e.id)));
    status.inventory = { entries: inventory };
    const changed = changes.filter((c) => c.action !== "unchanged");
    s.log.info({ revision, ...countActions(changes), output: Object.fromEntries(changed.map((c) => [c.subject, c.action])) }, "server-side apply completed");
    if (!obj.spec.prune) return changes;
    try {
      const pruned = await rm.deleteAll(staleEntries(oldInventory, inventory).map((e) => ({ id: parseId(e.id), v: e.v })), ownerOf(obj), run.signal);
      if (pruned.length) s.log.info({ revision, output: Object.fromEntries(pruned.map((c) => [c.subject, c.action])) }, "garbage collection completed");
      return [...changes, ...pruned];
    } catch (err) {
      if (err instanceof ApplyError) throw new ReconcileError(PruneFailedReason, err.message, { cause: err });
      throw err;
    }
  }

  /**
   * Health of all applied objects (spec.wait) or spec.healthChecks, within what is left of the timeout. When an
   * applied object drifts meanwhile, or the source gets a new revision (unless
   * --cancel-health-check-on-new-revision=false), the wait ends and the returned message says why.
   */
  private async checkHealth(run: Run, client: KubeClient, manifests: Manifest[], changes: ChangeSet, revision: string): Promise<string | undefined> {
    const { obj, session: s } = run;
    const targets = healthTargets(obj, manifests, changes);
    if (!targets.length) {
      removeCondition(obj, HealthyCondition);
      return undefined;
    }
    const started = Date.now();
    if (getCondition(obj, HealthyCondition)?.status !== "True" || changes.some((c) => c.action !== "unchanged" && c.action !== "skipped")) {
      markUnknown(obj, HealthyCondition, ProgressingReason, "Running health checks");
    }
    const ref = obj.spec.sourceRef;
    const superseded = () => {
      // Drift of an applied object is corrected now, not after the wait (the next reconcile re-applies and checks again).
      const drift = this.opts.drift?.lastDrift.get(keyOf(obj));
      if (drift && drift.at >= started) return `Health check canceled: drift detected on ${drift.subject}`;
      if (!this.opts.cancelHealthCheckOnNewRevision) return undefined;
      const next = this.opts.lookupSource?.(ref.kind, `${ref.namespace || obj.metadata.namespace}/${ref.name}`)?.status?.artifact?.revision;
      return next && next !== revision ? `Health check canceled: new revision '${next}' is available` : undefined;
    };
    const result = await checkHealth(client, this.opts.mapper, targets, { signal: run.signal, timeoutMs: Math.max(0, run.timeoutMs - (started - s.startedAt)), superseded });
    if (result.canceled) {
      markUnknown(obj, HealthyCondition, ProgressingReason, result.canceled);
      return result.canceled;
    }
    if (!result.ok) {
      markFalse(obj, HealthyCondition, HealthCheckFailedReason, result.message);
      throw new ReconcileError(HealthCheckFailedReason, result.message);
    }
    markTrue(obj, HealthyCondition, SucceededReason, `Health check passed in ${formatDuration(Date.now() - started)}`);
    return undefined;
  }

  private resourceManager(client: KubeClient, owner: string): ResourceManager {
    const drift = this.opts.drift;
    return new ResourceManager(
      client,
      this.opts.mapper,
      drift ? (e, obj, ref) => drift.observe(owner, ref, obj, e.result) : undefined,
      drift ? (id) => drift.expectDelete(formatId(id)) : undefined,
    );
  }

  private async build(obj: Kustomization, artifact: SourceArtifact, vars: Record<string, string> | undefined, signal: AbortSignal, s: Session<Kustomization>): Promise<Built> {
    const key = buildKey(artifact, obj, vars);
    const cached = this.builds.get(keyOf(obj));
    if (cached?.key === key) return { manifests: JSON.parse(cached.json) as Manifest[], digest: cached.digest };
    const manifests = await buildManifests(obj, artifact, vars, {
      kustomizePath: this.opts.kustomizePath,
      noRemoteBases: this.opts.noRemoteBases,
      strictSubstitutions: this.opts.strictSubstitutions,
      artifacts: this.opts.artifacts,
      signal,
      log: s.log,
    });
    const json = JSON.stringify(manifests);
    const digest = manifestsDigest(manifests);
    this.builds.set(keyOf(obj), { key, json, digest });
    // A parsed copy, not the build's own objects: their strings may be views into whole source files, which
    // what is kept of them (drift baselines) would then keep alive.
    return { manifests: JSON.parse(json) as Manifest[], digest };
  }

  /** The latest artifact revision of a source ("<Kind>/<namespace>/<name>"), from the cache. */
  private sourceRevision(key: string): string | undefined {
    const [kind, ...rest] = key.split("/");
    return this.opts.lookupSource?.(kind!, rest.join("/"))?.status?.artifact?.revision;
  }

  /** Deletion: prune the inventory as spec.deletionPolicy says (unless suspended), then forget the object. */
  private async finalize(s: Session<Kustomization>): Promise<void> {
    const { obj } = s;
    const policy = obj.spec.deletionPolicy ?? "MirrorPrune";
    const prune = policy === "Delete" || policy === "WaitForTermination" || (policy === "MirrorPrune" && obj.spec.prune);
    const entries = obj.status?.inventory?.entries ?? [];
    if (prune && !obj.spec.suspend && entries.length) {
      const client = await this.opts.clientFor(obj.spec.serviceAccountName || this.opts.defaultServiceAccount, obj.metadata.namespace!);
      const rm = this.resourceManager(client, keyOf(obj));
      const timeoutMs = reconcileTimeoutMs(obj);
      try {
        const deleted = await rm.deleteAll(entries.map((e) => ({ id: parseId(e.id), v: e.v })), ownerOf(obj), s.signal, policy === "WaitForTermination" ? timeoutMs : undefined);
        const summary = changeSetSummary(deleted);
        s.log.info({ output: Object.fromEntries(deleted.map((c) => [c.subject, c.action])) }, "garbage collection on deletion completed");
        if (summary) s.event("Normal", ProgressingReason, summary, "Delete");
      } catch (err) {
        s.event("Warning", PruneFailedReason, errorMessage(err), "Delete");
        // In a terminating namespace the impersonated identity's bindings may be gone already: do not keep
        // the namespace stuck on this finalizer; the namespace's own deletion removes what is left in it.
        if (!(await namespaceTerminating(s.client, obj.metadata.namespace!, s.signal))) {
          throw new ReconcileError(PruneFailedReason, errorMessage(err), { cause: err });
        }
        s.log.warn({ err: errorMessage(err) }, "garbage collection failed in a terminating namespace; releasing the finalizer");
      }
    }
    this.opts.drift?.forget(keyOf(obj));
    this.builds.delete(keyOf(obj));
    s.log.info({ policy, pruned: prune && !obj.spec.suspend }, "finalizer removed");
  }
}

async function namespaceTerminating(client: KubeClient, name: string, signal: AbortSignal): Promise<boolean> {
  try {
    const ns = await client.get<{ metadata: { deletionTimestamp?: string } }>({ kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false }, undefined, name, { signal });
    return Boolean(ns.metadata.deletionTimestamp);
  } catch (err) {
    return isNotFound(err);
  }
}

function ownerOf(obj: Kustomization): { name: string; namespace: string } {
  return { name: obj.metadata.name, namespace: obj.metadata.namespace! };
}

/** The old inventory plus what a partial apply wrote (created/configured/unchanged). */
export function mergeInventory(old: InventoryEntry[], changes: ChangeSet): InventoryEntry[] {
  const byId = new Map(old.map((e) => [e.id, e]));
  for (const c of changes) if (c.action !== "deleted") byId.set(formatId(c.id), { id: formatId(c.id), v: c.v });
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

type SourceArtifact = NonNullable<NonNullable<SourceObject["status"]>["artifact"]>;

/** The commit an OCI artifact was built from (Flux's originRevision), when the source records it. */
function originRevisionOf(artifact: SourceArtifact): string | undefined {
  return artifact.metadata?.["org.opencontainers.image.revision"];
}

