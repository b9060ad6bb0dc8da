// A controller: one work queue per kind fed by a shared informer, N workers calling a Reconciler.
// The reconciler never sees the queue; it returns { requeueAfter } or throws, and the error policy
// (capped exponential backoff, no retry for stalled errors) lives here.
import { deadline } from "./abort";
import type { Logger } from "pino";
import type { KubeClient, KubeObject } from "./kube";
import { objectKey, type Informer } from "./informer";
import { Backoff, WorkQueue, withJitter, type BackoffPolicy } from "./queue";
import { ReconcileError, errorMessage } from "./errors";
import type { EventRecorder } from "./events";
import type { Metrics } from "./metrics";

export const ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt";

export interface ReconcileResult {
  /** Reconcile again after this many milliseconds (jitter is added). */
  requeueAfter?: number;
}

export interface ReconcileContext {
  signal: AbortSignal;
  log: Logger;
  client: KubeClient;
  events: EventRecorder;
}

export interface Reconciler<T extends KubeObject> {
  reconcile(obj: T, ctx: ReconcileContext): Promise<ReconcileResult | void>;
}

export interface ControllerOptions<T extends KubeObject> {
  /** Controller name for logs and metrics, e.g. "gitrepository". */
  name: string;
  informer: Informer<T>;
  reconciler: Reconciler<T>;
  concurrency?: number;
  backoff?: BackoffPolicy;
  /** Upper bound for one reconcile; the signal passed to the reconciler aborts after it. */
  reconcileTimeoutMs?: (obj: T) => number;
  /** How long in-flight reconciles may go on after shutdown began before their signal aborts (default 5 s). */
  shutdownGracePeriodMs?: number;
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

export class Controller<T extends KubeObject> {
  readonly queue = new WorkQueue();
  private readonly backoff: Backoff;
  private readonly concurrency: number;
  /** Resolves when a given key's reconcile finished; used to wait for in-flight work on shutdown. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Aborts in-flight reconciles once the shutdown grace period is over. */
  private readonly drain = new AbortController();

  constructor(
    private readonly opts: ControllerOptions<T>,
    private readonly deps: { client: KubeClient; log: Logger; events: EventRecorder; metrics: Metrics },
  ) {
    this.backoff = new Backoff(opts.backoff);
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    opts.informer.on((event, obj, old) => {
      const key = objectKey(obj);
      if (event === "delete") {
        this.backoff.forget(key);
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
    const obj = structuredClone(cached);
    const log = this.deps.log.child({ controller: this.opts.name, name: obj.metadata.name, namespace: obj.metadata.namespace });
    const timeoutMs = this.opts.reconcileTimeoutMs?.(obj) ?? 10 * 60_000;
    // Shutdown does not abort a reconcile at once: it may finish within the grace period, then it is aborted.
    const limit = deadline(this.drain.signal, timeoutMs);
    const signal = limit.signal;
    const started = process.hrtime.bigint();
    const { metrics } = this.deps;
    metrics.activeWorkers.inc({ controller: this.opts.name });
    try {
      const result = await this.opts.reconciler.reconcile(obj, { signal, log, client: this.deps.client, events: this.deps.events });
      this.backoff.forget(key);
      if (result?.requeueAfter && !shutdown.aborted) {
        this.queue.addAfter(key, withJitter(result.requeueAfter));
        metrics.reconcileTotal.inc({ controller: this.opts.name, result: "requeue_after" });
      } else metrics.reconcileTotal.inc({ controller: this.opts.name, result: "success" });
    } catch (err) {
      metrics.reconcileErrors.inc({ controller: this.opts.name });
      metrics.reconcileTotal.inc({ controller: this.opts.name, result: "error" });
      if (err instanceof ReconcileError && err.stalled) {
        this.backoff.forget(key);
        log.error({ reason: err.reason, err: err.message }, "reconcile stalled; waiting for a spec change");
      } else {
        const delay = this.backoff.next(key);
        log.error({ reason: err instanceof ReconcileError ? err.reason : undefined, err: errorMessage(err), retryInMs: delay }, "reconcile failed");
        if (!shutdown.aborted) this.queue.addAfter(key, delay);
      }
    } finally {
      limit.release();
      metrics.activeWorkers.dec({ controller: this.opts.name });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.reconcileTime.observe({ controller: this.opts.name }, seconds);
      metrics.reconcileDuration.observe({ kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace ?? "" }, seconds);
    }
  }
}
