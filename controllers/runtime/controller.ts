// A controller: one private work queue per kind fed by a shared informer (and the watches a builder wires),
// N workers each running a reconcile in a Session. The reconciler never sees the queue: it returns an Action
// or throws; the declared error policy (capped exponential backoff or a per-object retry interval, no retry
// for stalled errors) lives here, once.
import { setMaxListeners } from "node:events";
import { deadline } from "./abort";
import type { Logger } from "pino";
import type { KubeClient, KubeObject } from "./kube";
import { objectKey, type Informer } from "./informer";
import { Backoff, WorkQueue, withJitter, type BackoffPolicy } from "./queue";
import { ReconcileError, errorMessage } from "./errors";
import type { EventRecorder } from "./events";
import type { Metrics } from "./metrics";
import { ReconcileRequestAnnotation } from "../api/meta";
import { Session, WriteLog, type Action, type ReconcilableObject } from "./session";

export { ReconcileRequestAnnotation } from "../api/meta";
export type { Action } from "./session";
/** What a reconcile returns (an Action). */
export type ReconcileResult = Action;

export interface Reconciler<T extends ReconcilableObject> {
  /** Converges the world to session.obj and sets its status; throws to fail (see ErrorPolicy). */
  reconcile(session: Session<T>): Promise<Action | void>;
}

/** How a controller treats a failed reconcile. */
export interface ErrorPolicy<T> {
  /** Condition reason for errors that are not ReconcileErrors (e.g. "ReconciliationFailed"). */
  reason: string;
  /** Condition type set True for errors that are not ReconcileErrors (e.g. "FetchFailed"). */
  condition?: string;
  /**
   * Delay before retrying a failed (not stalled) reconcile, given the object and the per-object exponential
   * backoff delay. Default: the backoff delay.
   */
  retryAfter?: (obj: T, backoffMs: number) => number;
}

export interface ControllerOptions<T extends ReconcilableObject> {
  /** Controller name for logs and metrics, e.g. "gitrepository". */
  name: string;
  informer: Informer<T>;
  reconciler: Reconciler<T>;
  concurrency?: number;
  /** Per-object exponential backoff of failed reconciles (Flux's --min-retry-delay / --max-retry-delay). */
  backoff?: BackoffPolicy;
  errorPolicy?: ErrorPolicy<T>;
  /** Random extra time added to a success requeue, in percent of it (Flux's --interval-jitter-percentage, default 5). */
  jitterPercent?: number;
  /** The finalizer the session manages (default "finalizers.fluxcd.io"). */
  finalizer?: string;
  /** Upper bound for one reconcile; the session's signal aborts after it. */
  reconcileTimeoutMs?: (obj: T) => number;
  /** How long in-flight reconciles may go on after shutdown began before their signal aborts (default 5 s). */
  shutdownGracePeriodMs?: number;
  /** Delay before a running reconcile's Progressing status is written (default 1 s). */
  progressDelayMs?: number;
}

export interface ControllerDeps {
  client: KubeClient;
  log: Logger;
  events: EventRecorder;
  metrics: Metrics;
}

/**
 * Which informer changes need a reconcile: new objects, spec changes (generation), a new
 * reconcile.fluxcd.io/requestedAt value, and deletion. Status-only updates do not, so writing status never loops.
 */
export function needsReconcile(old: KubeObject | undefined, obj: KubeObject): boolean {
  if (!old) return true;
  if (old.metadata.generation !== obj.metadata.generation) return true;
  if (old.metadata.annotations?.[ReconcileRequestAnnotation] !== obj.metadata.annotations?.[ReconcileRequestAnnotation]) return true;
  if (!old.metadata.deletionTimestamp && obj.metadata.deletionTimestamp) return true;
  return false;
}

export class Controller<T extends ReconcilableObject> {
  private readonly queue = new WorkQueue();
  private readonly backoff: Backoff;
  private readonly concurrency: number;
  private readonly writes = new WriteLog();
  /** Resolves when a given key's reconcile finished; used to wait for in-flight work on shutdown. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Aborts in-flight reconciles once the shutdown grace period is over. */
  private readonly drain = new AbortController();

  constructor(
    private readonly opts: ControllerOptions<T>,
    private readonly deps: ControllerDeps,
  ) {
    this.backoff = new Backoff(opts.backoff);
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    // Every reconcile in flight hooks its deadline onto the drain signal (and unhooks when it ends).
    setMaxListeners(0, this.drain.signal);
    opts.informer.on((event, obj, old) => {
      const key = objectKey(obj);
      if (event === "delete") {
        this.backoff.forget(key);
        this.writes.forget(key);
        return;
      }
      if (needsReconcile(old, obj)) this.queue.add(key);
    });
  }

  get name(): string {
    return this.opts.name;
  }

  /** True while a reconcile runs. */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** Asks for a reconcile of the object with this key ("namespace/name"); used by the builder's watches. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Runs the workers until the signal aborts, then lets in-flight reconciles finish (within the grace period). */
  async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener("abort", () => {
      this.queue.shutdown();
      setTimeout(() => this.drain.abort(new Error("shutting down")), this.opts.shutdownGracePeriodMs ?? 5_000).unref();
    }, { once: true });
    const workers = Array.from({ length: this.concurrency }, () => this.worker(signal));
    await Promise.all(workers);
    await Promise.allSettled([...this.inFlight]);
  }

  private async worker(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const p = this.process(key, signal).finally(() => this.queue.done(key));
      this.inFlight.add(p);
      await p;
      this.inFlight.delete(p);
      this.deps.metrics.queueDepth.set({ name: this.opts.name }, this.queue.length);
    }
  }

  private async process(key: string, shutdown: AbortSignal): Promise<void> {
    const cached = this.opts.informer.get(key);
    if (!cached) return;
    const log = this.deps.log.child({ controller: this.opts.name, name: cached.metadata.name, namespace: cached.metadata.namespace });
    // Shutdown does not abort a reconcile at once: it may finish within the grace period, then it is aborted.
    const limit = deadline(this.drain.signal, this.opts.reconcileTimeoutMs?.(cached) ?? 10 * 60_000);
    const started = process.hrtime.bigint();
    const { metrics } = this.deps;
    const name = this.opts.name;
    metrics.activeWorkers.inc({ controller: name });
    let session: Session<T> | undefined;
    try {
      session = await Session.open(this.opts.informer.ref, cached, limit.signal, {
        ...this.deps,
        log,
        writes: this.writes,
        finalizer: this.opts.finalizer,
        progressDelayMs: this.opts.progressDelayMs,
      });
      if (!session) return;
      const action = await this.opts.reconciler.reconcile(session);
      await session.commit();
      this.backoff.forget(key);
      if (action?.requeueAfter && !shutdown.aborted) {
        this.queue.addAfter(key, withJitter(action.requeueAfter, (this.opts.jitterPercent ?? 5) / 100));
        metrics.reconcileTotal.inc({ controller: name, result: "requeue_after" });
      } else metrics.reconcileTotal.inc({ controller: name, result: "success" });
    } catch (err) {
      metrics.reconcileErrors.inc({ controller: name });
      metrics.reconcileTotal.inc({ controller: name, result: "error" });
      await this.failed(key, session, cached, err, limit.signal, shutdown, log);
    } finally {
      await session?.close();
      limit.release();
      metrics.activeWorkers.dec({ controller: name });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.reconcileTime.observe({ controller: name }, seconds);
      metrics.reconcileDuration.observe({ kind: cached.kind, name: cached.metadata.name, namespace: cached.metadata.namespace ?? "" }, seconds);
    }
  }

  /** The error policy: status and event through the session, then a retry unless stalled. */
  private async failed(key: string, session: Session<T> | undefined, cached: T, err: unknown, signal: AbortSignal, shutdown: AbortSignal, log: Logger): Promise<void> {
    const policy = this.opts.errorPolicy ?? { reason: "ReconciliationFailed" };
    // Interrupted (shutdown or the reconcile's time limit): not a verdict on the object; the next reconcile decides.
    if (signal.aborted) {
      const delay = this.backoff.next(key);
      log.warn({ err: errorMessage(err), retryInMs: delay }, "reconcile interrupted");
      if (!shutdown.aborted) this.queue.addAfter(key, delay);
      return;
    }
    const e = session ? await session.fail(err, policy) : new ReconcileError(policy.reason, errorMessage(err), { cause: err });
    if (e.stalled) {
      this.backoff.forget(key);
      log.error({ reason: e.reason, err: e.message }, "reconcile stalled; waiting for a spec change");
      return;
    }
    const backoffMs = this.backoff.next(key);
    const delay = policy.retryAfter?.(session?.obj ?? cached, backoffMs) ?? backoffMs;
    log.error({ reason: e.reason, err: e.message, retryInMs: delay }, "reconciliation failed");
    if (!shutdown.aborted) this.queue.addAfter(key, delay);
  }
}
