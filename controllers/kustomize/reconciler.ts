// The Kustomization reconciler: source artifact → build → staged server-side apply → inventory → prune →
// health → status, with Flux's conditions, reasons and events. Failures end in Ready=False with a message
// naming the file or object; nothing from a failing build is applied.
import { deadline } from "../runtime/abort";
import type { Reconciler, ReconcileContext, ReconcileResult } from "../runtime/controller";
import { ReconcileRequestAnnotation } from "../runtime/controller";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { getCondition, markFailed, markReady, markReconciling, markTrue, markFalse, markUnknown, removeCondition } from "../runtime/conditions";
import { addFinalizer, hasFinalizer, removeFinalizer, updateStatus } from "../runtime/status";
import { isNotFound, type KubeClient } from "../runtime/kube";
import type { Metrics } from "../runtime/metrics";
import { parseDuration } from "../source/duration";
import {
  DependencyNotReadyReason,
  HealthCheckFailedReason,
  HealthCheckSucceededReason,
  HealthyCondition,
  KustomizationKind,
  ProgressingReason,
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
import { formatId, inventoryOf, parseId, staleEntries, type Manifest } from "./inventory";
import { checkHealth, healthTargets } from "./wait";
import type { RestMapper } from "./restmapper";
import type { DriftWatcher } from "./drift";
import type { ArtifactCache } from "./artifactcache";

export const KustomizeFinalizer = "finalizers.fluxcd.io";

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
  drift?: DriftWatcher;
  metrics?: Metrics;
  /** Unpacked artifacts shared by all builds (one download per revision, not per Kustomization). */
  artifacts?: ArtifactCache;
}

/** One reconcile's clock, budget and status baseline. */
interface Run {
  started: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** status as read, to skip writes that change nothing */
  before: string;
  /** a new reconcile.fluxcd.io/requestedAt is being handled */
  handled: boolean;
  /** The deferred Progressing status write (see progressing()). */
  progress?: { timer: NodeJS.Timeout; write?: Promise<void> };
}

/**
 * A reconcile that has not finished after this long shows Reconciling=True / Ready=Unknown in its status. A
 * shorter one goes straight to its final status: one status write instead of two per reconcile.
 */
export const progressStatusDelayMs = 1_000;

interface BuildCacheEntry {
  key: string;
  /** The manifests as JSON: compact, and each reconcile gets its own copy to work on. */
  json: string;
}

const keyOf = (ks: Kustomization): string => `${ks.metadata.namespace}/${ks.metadata.name}`;

export class KustomizationReconciler implements Reconciler<Kustomization> {
  private readonly builds = new Map<string, BuildCacheEntry>();
  /** resourceVersion of this process's last write to each Kustomization (status or finalizer). */
  private readonly written = new Map<string, string>();

  constructor(private readonly opts: KustomizeReconcilerOptions) {}

  /**
   * The object to work on. The cache may not have our last status write yet (a drift-triggered reconcile
   * follows closely), and a stale inventory or "status changed?" baseline must never be used: the cached copy
   * is taken when it is our last write, or when it was never reconciled and this process never wrote it;
   * anything else is read from the apiserver.
   */
  private async current(cached: Kustomization, ctx: ReconcileContext): Promise<Kustomization | undefined> {
    const last = this.written.get(keyOf(cached));
    const neverReconciled = cached.status === undefined || Object.keys(cached.status).length === 0;
    if (last === undefined ? neverReconciled : last === cached.metadata.resourceVersion) return cached;
    try {
      return await ctx.client.get<Kustomization>(KustomizationKind.resource, cached.metadata.namespace, cached.metadata.name, { signal: ctx.signal });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async reconcile(cached: Kustomization, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const ref = KustomizationKind.resource;
    const obj = await this.current(cached, ctx);
    if (!obj) return;
    const labels = { kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace ?? "" };
    if (obj.metadata.deletionTimestamp) {
      await this.finalize(obj, ctx);
      this.opts.metrics?.suspendStatus.remove(labels);
      return;
    }
    if (!hasFinalizer(obj, KustomizeFinalizer)) {
      const updated = await addFinalizer(ctx.client, ref, obj, KustomizeFinalizer, ctx.signal);
      if (!updated) return;
      obj.metadata = updated.metadata;
      this.written.set(keyOf(obj), obj.metadata.resourceVersion!);
    }
    this.opts.metrics?.suspendStatus.set(labels, obj.spec.suspend ? 1 : 0);
    if (obj.spec.suspend) {
      ctx.log.info("reconciliation is suspended for this object");
      return;
    }
    const interval = parseDuration(obj.spec.interval);
    const run: Run = {
      started: Date.now(),
      timeoutMs: obj.spec.timeout ? parseDuration(obj.spec.timeout) : interval,
      signal: ctx.signal,
      before: "",
      handled: false,
    };
    const limit = deadline(ctx.signal, run.timeoutMs);
    run.signal = limit.signal;
    obj.status ??= {};
    const requestedAt = obj.metadata.annotations?.[ReconcileRequestAnnotation];
    run.handled = requestedAt !== undefined && obj.status.lastHandledReconcileAt !== requestedAt;
    if (requestedAt) obj.status.lastHandledReconcileAt = requestedAt;
    run.before = JSON.stringify(obj.status);
    try {
      return await this.sync(obj, ctx, run, interval);
    } catch (err) {
      const retryInterval = obj.spec.retryInterval ? parseDuration(obj.spec.retryInterval) : interval;
      await this.progressed(run);
      return this.failed(obj, ctx, err, retryInterval);
    } finally {
      limit.release();
      if (run.progress) clearTimeout(run.progress.timer);
    }
  }

  /**
   * Marks the object Reconciling and schedules that status to be written if the reconcile is still running
   * after progressStatusDelayMs; the final status is always written.
   */
  private progressing(obj: Kustomization, ctx: ReconcileContext, run: Run, message: string): void {
    markReconciling(obj, ProgressingReason, message);
    run.before = ""; // the final status must be written, over the Progressing one or the old one
    const snapshot = structuredClone(obj);
    const timer = setTimeout(() => {
      snapshot.metadata.resourceVersion = obj.metadata.resourceVersion;
      run.progress!.write = this.writeStatus(snapshot, ctx).then(
        () => void (obj.metadata.resourceVersion = snapshot.metadata.resourceVersion),
        (err: unknown) => ctx.log.warn({ err: errorMessage(err) }, "could not write progressing status"),
      );
    }, progressStatusDelayMs);
    run.progress = { timer };
  }

  /** Cancels the pending Progressing write, or waits for the one in flight (so the next write does not conflict). */
  private async progressed(run: Run): Promise<void> {
    if (!run.progress) return;
    clearTimeout(run.progress.timer);
    await run.progress.write;
    run.progress = undefined;
  }

  /** Source → dependencies → build → apply → prune → health → Ready. Throws ReconcileErrors. */
  private async sync(obj: Kustomization, ctx: ReconcileContext, run: Run, interval: number): Promise<ReconcileResult> {
    const status = obj.status!;
    const source = await getSource(obj, { client: ctx.client, noCrossNamespaceRefs: this.opts.noCrossNamespaceRefs, cached: this.opts.lookupSource, signal: run.signal });
    const artifact = source.status?.artifact;
    if (!artifact) throw new ReconcileError(ArtifactFailedReason, `Source '${sourceKey(obj)}' is not ready, artifact not found`);
    const revision = artifact.revision;
    const waiting = this.dependenciesNotReady(obj);
    if (waiting) {
      markReconciling(obj, DependencyNotReadyReason, waiting);
      markFalse(obj, "Ready", DependencyNotReadyReason, waiting);
      status.observedGeneration = obj.metadata.generation;
      if (JSON.stringify(status) !== run.before) await this.writeStatus(obj, ctx);
      ctx.log.info({ reason: DependencyNotReadyReason, message: waiting, retryInMs: this.opts.requeueDependencyMs }, "dependencies not ready");
      return { requeueAfter: this.opts.requeueDependencyMs };
    }
    const isNew = status.lastAttemptedRevision !== revision || status.observedGeneration !== obj.metadata.generation || getCondition(obj, "Ready")?.status !== "True";
    status.lastAttemptedRevision = revision;
    if (isNew || run.handled) {
      this.progressing(obj, ctx, run, `Fetching manifests for revision ${revision} with a timeout of ${obj.spec.timeout ?? obj.spec.interval}`);
    }
    const vars = await substitutionVars(obj, ctx.client, run.signal);
    const manifests = await this.build(obj, artifact, vars, run.signal, ctx);
    const client = await this.opts.clientFor(obj.spec.serviceAccountName || this.opts.defaultServiceAccount, obj.metadata.namespace!);
    const changes = await this.applyAndPrune(obj, client, manifests, run, ctx, revision);
    const summary = changeSetSummary(changes);
    if (summary) ctx.events.record(obj, "Normal", ReconciliationSucceededReason, `${summary}\n\nrevision: ${revision}`);
    const canceled = await this.checkHealth(obj, client, manifests, changes, run, revision);
    if (canceled) {
      // The objects of this revision are applied; their health no longer matters: the next one goes next.
      markReconciling(obj, ProgressingReason, canceled);
      markUnknown(obj, "Ready", ProgressingReason, canceled);
      await this.progressed(run);
      await this.writeStatus(obj, ctx);
      ctx.log.info({ revision, ms: Date.now() - run.started }, canceled);
      return { requeueAfter: 1 };
    }
    status.lastAppliedRevision = revision;
    const wasReady = getCondition(obj, "Ready")?.status === "True";
    markReady(obj, ReconciliationSucceededReason, `Applied revision: ${revision}`);
    await this.progressed(run);
    if (JSON.stringify(status) !== run.before) await this.writeStatus(obj, ctx);
    const finished = `Reconciliation finished in ${formatSeconds(Date.now() - run.started)}, next run in ${obj.spec.interval}`;
    if (!wasReady && !summary) ctx.events.record(obj, "Normal", ReconciliationSucceededReason, `${finished}\n\nrevision: ${revision}`);
    ctx.log.info({ revision, ms: Date.now() - run.started }, finished);
    return { requeueAfter: interval };
  }

  /** Staged apply, then the inventory, then prune of what left the build (with spec.prune). */
  private async applyAndPrune(obj: Kustomization, client: KubeClient, manifests: Manifest[], run: Run, ctx: ReconcileContext, revision: string): Promise<ChangeSet> {
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
    ctx.log.info({ revision, ...countActions(changes), output: Object.fromEntries(changed.map((c) => [c.subject, c.action])) }, "server-side apply completed");
    if (!obj.spec.prune) return changes;
    try {
      const pruned = await rm.deleteAll(staleEntries(oldInventory, inventory).map((e) => ({ id: parseId(e.id), v: e.v })), ownerOf(obj), run.signal);
      if (pruned.length) ctx.log.info({ revision, output: Object.fromEntries(pruned.map((c) => [c.subject, c.action])) }, "garbage collection completed");
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
  private async checkHealth(obj: Kustomization, client: KubeClient, manifests: Manifest[], changes: ChangeSet, run: Run, revision: string): Promise<string | undefined> {
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
    const result = await checkHealth(client, this.opts.mapper, targets, { signal: run.signal, timeoutMs: Math.max(0, run.timeoutMs - (started - run.started)), superseded });
    if (result.canceled) {
      markUnknown(obj, HealthyCondition, ProgressingReason, result.canceled);
      return result.canceled;
    }
    if (!result.ok) {
      markFalse(obj, HealthyCondition, HealthCheckFailedReason, result.message);
      throw new ReconcileError(HealthCheckFailedReason, result.message);
    }
    markTrue(obj, HealthyCondition, HealthCheckSucceededReason, `Health check passed in ${formatSeconds(Date.now() - started)}`);
    return undefined;
  }

  /** Failure: Ready=False with the error's reason (Stalled when retrying cannot help), event, retry. */
  private async failed(obj: Kustomization, ctx: ReconcileContext, err: unknown, retryInterval: number): Promise<ReconcileResult | void> {
    const e = err instanceof ReconcileError ? err : new ReconcileError(ReconciliationFailedReason, errorMessage(err), { cause: err });
    markFailed(obj, e.reason, e.message, e.stalled);
    try {
      await this.writeStatus(obj, ctx);
    } catch (statusErr) {
      ctx.log.warn({ err: errorMessage(statusErr) }, "could not write failure status");
    }
    ctx.events.record(obj, "Warning", e.reason, e.message);
    ctx.log.error({ reason: e.reason, err: e.message, retryInMs: e.stalled ? undefined : retryInterval }, "reconciliation failed");
    return e.stalled ? undefined : { requeueAfter: retryInterval };
  }

  /** Writes status and keeps the stored resourceVersion, so the next write in this reconcile does not conflict. */
  private async writeStatus(obj: Kustomization, ctx: ReconcileContext): Promise<void> {
    const stored = await updateStatus(ctx.client, KustomizationKind.resource, obj, ctx.signal);
    if (stored) {
      obj.metadata.resourceVersion = stored.metadata.resourceVersion;
      this.written.set(keyOf(obj), stored.metadata.resourceVersion!);
    }
    ctx.log.debug({ resourceVersion: stored?.metadata.resourceVersion, ready: getCondition(obj, "Ready")?.reason }, "status written");
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

  private async build(obj: Kustomization, artifact: NonNullable<NonNullable<SourceObject["status"]>["artifact"]>, vars: Record<string, string> | undefined, signal: AbortSignal, ctx: ReconcileContext): Promise<Manifest[]> {
    const key = buildKey(artifact, obj, vars);
    const cached = this.builds.get(keyOf(obj));
    if (cached?.key === key) return JSON.parse(cached.json) as Manifest[];
    const manifests = await buildManifests(obj, artifact, vars, {
      kustomizePath: this.opts.kustomizePath,
      noRemoteBases: this.opts.noRemoteBases,
      strictSubstitutions: this.opts.strictSubstitutions,
      artifacts: this.opts.artifacts,
      signal,
      log: ctx.log,
    });
    const json = JSON.stringify(manifests);
    this.builds.set(keyOf(obj), { key, json });
    // A parsed copy, not the build's own objects: their strings may be views into whole source files, which
    // what is kept of them (drift baselines) would then keep alive.
    return JSON.parse(json) as Manifest[];
  }

  /** A message when a dependency is not Ready at its latest revision, else undefined. */
  private dependenciesNotReady(obj: Kustomization): string | undefined {
    for (const dep of obj.spec.dependsOn ?? []) {
      const ns = dep.namespace || obj.metadata.namespace!;
      const key = `${ns}/${dep.name}`;
      const other = this.opts.lookupKustomization(key);
      if (!other) return `dependency '${key}' not found`;
      const ready = getCondition(other, "Ready");
      if (!ready || ready.status !== "True" || other.status?.observedGeneration !== other.metadata.generation || ready.observedGeneration !== other.metadata.generation) {
        return `dependency '${key}' is not ready`;
      }
      if (sourceKey(other) === sourceKey(obj)) {
        const src = this.opts.lookupSource?.(other.spec.sourceRef.kind, `${other.spec.sourceRef.namespace || ns}/${other.spec.sourceRef.name}`);
        const rev = src?.status?.artifact?.revision;
        if (rev && other.status?.lastAppliedRevision !== rev) return `dependency '${key}' revision is not up to date`;
      }
    }
    return undefined;
  }

  private async finalize(obj: Kustomization, ctx: ReconcileContext): Promise<void> {
    const policy = obj.spec.deletionPolicy ?? "MirrorPrune";
    const prune = policy === "Delete" || policy === "WaitForTermination" || (policy === "MirrorPrune" && obj.spec.prune);
    const entries = obj.status?.inventory?.entries ?? [];
    if (prune && !obj.spec.suspend && entries.length && hasFinalizer(obj, KustomizeFinalizer)) {
      const serviceAccount = obj.spec.serviceAccountName || this.opts.defaultServiceAccount;
      const client = await this.opts.clientFor(serviceAccount, obj.metadata.namespace!);
      const rm = this.resourceManager(client, keyOf(obj));
      const timeoutMs = obj.spec.timeout ? parseDuration(obj.spec.timeout) : parseDuration(obj.spec.interval);
      try {
        const deleted = await rm.deleteAll(entries.map((e) => ({ id: parseId(e.id), v: e.v })), ownerOf(obj), ctx.signal, policy === "WaitForTermination" ? timeoutMs : undefined);
        const summary = changeSetSummary(deleted);
        ctx.log.info({ output: Object.fromEntries(deleted.map((c) => [c.subject, c.action])) }, "garbage collection on deletion completed");
        if (summary) ctx.events.record(obj, "Normal", "Progressing", summary, "Delete");
      } catch (err) {
        ctx.events.record(obj, "Warning", PruneFailedReason, errorMessage(err), "Delete");
        // In a terminating namespace the impersonated identity's bindings may be gone already: do not keep
        // the namespace stuck on this finalizer; the namespace's own deletion removes what is left in it.
        if (!(await namespaceTerminating(ctx.client, obj.metadata.namespace!, ctx.signal))) {
          throw new ReconcileError(PruneFailedReason, errorMessage(err), { cause: err });
        }
        ctx.log.warn({ err: errorMessage(err) }, "garbage collection failed in a terminating namespace; releasing the finalizer");
      }
    }
    this.opts.drift?.forget(keyOf(obj));
    this.builds.delete(keyOf(obj));
    this.written.delete(keyOf(obj));
    await removeFinalizer(ctx.client, KustomizationKind.resource, obj, KustomizeFinalizer, ctx.signal);
    ctx.log.info({ policy, pruned: prune && !obj.spec.suspend }, "finalizer removed");
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

function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

