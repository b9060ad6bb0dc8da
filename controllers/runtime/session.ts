// One reconcile's view of its object. The session owns the fresh object (never a cache copy older than this
// process's own last write), the status baseline it was read with, a throttled "Progressing" status write,
// the single status commit at the end, the finalizer and suspend lifecycle, and the one mapping from an
// error to Flux's conditions. A reconciler only works on `session.obj` and returns what to do next.
import type { Logger } from "pino";
import { FluxFinalizer, ProgressingReason, ReadyCondition, ReconcileRequestAnnotation } from "../api/meta";
import { isNotFound, type KubeClient, type KubeObject, type ResourceRef } from "./kube";
import { objectKey } from "./informer";
import { getCondition, markFailed, markReconciling, markTrue, type Condition } from "./conditions";
import { ReconcileError, errorMessage } from "./errors";
import type { EventRecorder, EventType } from "./events";
import type { Metrics } from "./metrics";
import { addFinalizer, hasFinalizer, removeFinalizer, updateStatus } from "./status";

/**
 * A reconcile that has not finished after this long shows Reconciling=True / Ready=Unknown in its status. A
 * shorter one goes straight to its final status: one status write instead of two per reconcile.
 */
export const progressStatusDelayMs = 1_000;

/** The objects a session works on: Flux-style objects with spec.suspend and a status with conditions. */
export interface ReconcilableObject extends KubeObject {
  spec?: { suspend?: boolean };
  status?: { conditions?: Condition[]; observedGeneration?: number; lastHandledReconcileAt?: string };
}

/** What happens after a reconcile. */
export interface Action {
  /** Reconcile again after this many milliseconds (on success, jitter is added). */
  requeueAfter?: number;
}

/**
 * The resourceVersion of this process's last write to each object of a kind. A cached copy is current for
 * this process when it carries that version.
 */
export class WriteLog {
  private readonly last = new Map<string, string>();

  record(obj: KubeObject): void {
    if (obj.metadata.resourceVersion) this.last.set(objectKey(obj), obj.metadata.resourceVersion);
  }

  get(key: string): string | undefined {
    return this.last.get(key);
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}

export interface SessionDeps {
  client: KubeClient;
  log: Logger;
  events: EventRecorder;
  metrics?: Metrics;
  writes: WriteLog;
  /** The finalizer withFinalizer() manages (default Flux's "finalizers.fluxcd.io"). */
  finalizer?: string;
  /** Delay before the Progressing status is written (default progressStatusDelayMs). */
  progressDelayMs?: number;
}

export class Session<T extends ReconcilableObject> {
  /** When the reconcile started (epoch ms). */
  readonly startedAt = Date.now();
  /** True when a new reconcile.fluxcd.io/requestedAt value is handled by this reconcile. */
  requested = false;
  /**
   * Annotations every event of this reconcile carries from now on (Flux's event metadata, e.g.
   * "kustomize.toolkit.fluxcd.io/revision"); the failure event of fail() included.
   */
  readonly eventMetadata: Record<string, string> = {};
  private baseline: string;
  /** Set once the object is gone or released: nothing more is written. */
  private finished = false;
  private progress?: { timer?: NodeJS.Timeout; snapshot: T; write?: Promise<void> };

  private constructor(
    readonly ref: ResourceRef,
    /** The object as it is now, owned by this reconcile: change it, the session writes its status. */
    readonly obj: T,
    readonly signal: AbortSignal,
    private readonly deps: SessionDeps,
  ) {
    this.baseline = JSON.stringify(obj.status ?? {});
  }

  /**
   * Opens a session on the current object. The cached copy is used when it is this process's last write, or
   * when it was never reconciled and this process never wrote it; anything else is read from the apiserver
   * (the cache may not have our last write yet, and a stale status must never be the baseline). Resolves
   * undefined when the object is gone.
   */
  static async open<T extends ReconcilableObject>(ref: ResourceRef, cached: T, signal: AbortSignal, deps: SessionDeps): Promise<Session<T> | undefined> {
    const last = deps.writes.get(objectKey(cached));
    const neverReconciled = cached.status === undefined || Object.keys(cached.status).length === 0;
    if (last === undefined ? neverReconciled : last === cached.metadata.resourceVersion) return new Session(ref, structuredClone(cached), signal, deps);
    try {
      return new Session(ref, await deps.client.get<T>(ref, cached.metadata.namespace, cached.metadata.name, { signal }), signal, deps);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  get key(): string {
    return objectKey(this.obj);
  }

  get client(): KubeClient {
    return this.deps.client;
  }

  get log(): Logger {
    return this.deps.log;
  }

  /** Records a Kubernetes Event about the object (best-effort, deduplicated, never blocks), with eventMetadata. */
  event(type: EventType, reason: string, message: string, action?: string, metadata?: Record<string, string>): void {
    this.deps.events.record(this.obj, type, reason, message, action, { ...this.eventMetadata, ...metadata });
  }

  /**
   * The lifecycle around the domain. A deleted object gets cleanup() and then loses the finalizer; a live one
   * gets the finalizer first; a suspended one is left alone; otherwise a new reconcile request is noted in
   * status.lastHandledReconcileAt and apply() runs.
   */
  async withFinalizer(apply: () => Promise<Action | void>, cleanup: () => Promise<void>): Promise<Action | void> {
    const { obj } = this;
    const finalizer = this.deps.finalizer ?? FluxFinalizer;
    const labels = { kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace ?? "" };
    if (obj.metadata.deletionTimestamp) {
      if (hasFinalizer(obj, finalizer)) {
        await cleanup();
        await removeFinalizer(this.client, this.ref, obj, finalizer, this.signal);
      }
      this.deps.writes.forget(this.key);
      this.deps.metrics?.suspendStatus.remove(labels);
      this.finished = true;
      return;
    }
    if (!hasFinalizer(obj, finalizer)) {
      const updated = await addFinalizer(this.client, this.ref, obj, finalizer, this.signal);
      if (!updated) {
        this.finished = true;
        return;
      }
      obj.metadata = updated.metadata;
      this.deps.writes.record(obj);
    }
    this.deps.metrics?.suspendStatus.set(labels, obj.spec?.suspend ? 1 : 0);
    if (obj.spec?.suspend) {
      this.log.info("reconciliation is suspended for this object");
      return;
    }
    const requestedAt = obj.metadata.annotations?.[ReconcileRequestAnnotation];
    obj.status ??= {};
    this.requested = requestedAt !== undefined && obj.status.lastHandledReconcileAt !== requestedAt;
    if (requestedAt) obj.status.lastHandledReconcileAt = requestedAt;
    return apply();
  }

  /** Reconciling (Progressing) with Flux's message when the spec changed since the status was last written. */
  progressingOnNewGeneration(): void {
    const observed = this.obj.status?.observedGeneration;
    const generation = this.obj.metadata.generation;
    if (observed !== undefined && observed !== generation) this.progressing(ProgressingReason, `processing object: new generation ${observed} -> ${generation}`);
  }

  /**
   * Marks the object Reconciling (Ready=Unknown unless False) and writes that status if the reconcile is
   * still running after the progress delay; quick reconciles write only their final status.
   */
  progressing(reason: string, message: string): void {
    markReconciling(this.obj, reason, message);
    const snapshot = structuredClone(this.obj);
    if (this.progress) {
      this.progress.snapshot = snapshot;
      return;
    }
    const progress: NonNullable<Session<T>["progress"]> = { snapshot };
    progress.timer = setTimeout(() => {
      progress.timer = undefined;
      progress.write = this.write(progress.snapshot).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, "could not write progressing status"));
    }, this.deps.progressDelayMs ?? progressStatusDelayMs);
    this.progress = progress;
  }

  /** Writes the status when it differs from what is stored (after the Progressing write settled). */
  async commit(): Promise<void> {
    await this.settleProgress();
    if (this.finished) return;
    if (JSON.stringify(this.obj.status ?? {}) === this.baseline) return;
    await this.write(this.obj);
  }

  /**
   * The one mapping from an error to conditions: Ready=False with the error's reason, its own condition type
   * (e.g. FetchFailed) True, Stalled when retrying cannot help, else Reconciling/ProgressingWithRetry; then the
   * status is committed and a Warning event recorded. Returns the error as a ReconcileError.
   */
  async fail(err: unknown, defaults: { reason: string; condition?: string }): Promise<ReconcileError> {
    const e = err instanceof ReconcileError ? err : new ReconcileError(defaults.reason, errorMessage(err), { condition: defaults.condition, cause: err });
    if (this.finished) return e;
    if (e.options.condition) markTrue(this.obj, e.options.condition, e.reason, e.message);
    markFailed(this.obj, e.reason, e.message, e.stalled);
    try {
      await this.commit();
    } catch (statusErr) {
      this.log.warn({ err: errorMessage(statusErr) }, "could not write failure status");
    }
    this.event("Warning", e.reason, e.message);
    return e;
  }

  /** Stops the pending Progressing write (the reconcile ended without a commit, e.g. interrupted). */
  async close(): Promise<void> {
    await this.settleProgress();
  }

  private async settleProgress(): Promise<void> {
    const progress = this.progress;
    if (!progress) return;
    if (progress.timer) clearTimeout(progress.timer);
    await progress.write;
    this.progress = undefined;
  }

  private async write(obj: T): Promise<void> {
    if (obj !== this.obj) obj.metadata.resourceVersion = this.obj.metadata.resourceVersion;
    const stored = await updateStatus(this.client, this.ref, obj, this.signal);
    if (!stored) {
      this.finished = true;
      return;
    }
    this.obj.metadata.resourceVersion = stored.metadata.resourceVersion;
    this.deps.writes.record(stored);
    this.baseline = JSON.stringify(obj.status ?? {});
    this.log.debug({ resourceVersion: stored.metadata.resourceVersion, ready: getCondition(obj, ReadyCondition)?.reason }, "status written");
  }
}
