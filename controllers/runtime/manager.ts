// The Manager owns what controllers share: the kube client (with its client-side rate limit), one informer
// per kind, events, metrics, health endpoints, leader election and graceful shutdown. Controllers are wired
// with `manager.controller(kind, settings)…complete(reconciler)` (see builder.ts).
import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import type * as http from "node:http";
import type { Logger } from "pino";
import { KubeClient, type KubeObject, type ResourceRef } from "./kube";
import { Informer } from "./informer";
import type { Controller } from "./controller";
import { ControllerBuilder, type ControllerHost, type ControllerSettings, type KindRef } from "./builder";
import type { ReconcilableObject } from "./session";
import { EventRecorder } from "./events";
import type { EventSink } from "./fluxevents";
import { Metrics } from "./metrics";
import { LeaderElector, type LeaderElectionOptions } from "./leader";
import { healthServer, listen, metricsServer } from "./http";
import { defaultBackoff } from "./queue";
import { errorMessage } from "./errors";
import type { ClusterConfig as KubeConfig } from "./kubeconfig";

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  log: Logger;
  /** The component name used for events and the lease, e.g. "source-controller". */
  component: string;
  metricsAddr?: string;
  healthAddr?: string;
  leaderElection?: LeaderElectionOptions;
  /** Watch only this namespace (default: all). */
  namespace?: string;
  /**
   * Reconcile only objects with these labels (Flux's --watch-label-selector, e.g. "sharding.fluxcd.io/key=shard1"
   * or "!sharding.fluxcd.io/key"): applied to the informer of every reconciled kind, and part of the lease name.
   */
  watchLabelSelector?: string;
  /** Client-side requests per second to the apiserver (--kube-api-qps; unlimited when unset). */
  kubeApiQps?: number;
  /** Requests above the average allowed at once (--kube-api-burst). */
  kubeApiBurst?: number;
  /** First retry delay of a failed reconcile (--min-retry-delay; default 1 s), doubling per failure ... */
  minRetryDelayMs?: number;
  /** ... up to this (--max-retry-delay; default 5 min). */
  maxRetryDelayMs?: number;
  /** Random extra time on a success requeue, in percent of the interval (--interval-jitter-percentage; default 5). */
  intervalJitterPercentage?: number;
  /** Where Flux's events go besides the apiserver (--events-addr, or a notification-controller in this process). */
  eventSink?: EventSink;
}

/** The Manager options that tune every controller (Flux's flags of the same names). */
export type ManagerTuning = Pick<ManagerOptions, "watchLabelSelector" | "kubeApiQps" | "kubeApiBurst" | "minRetryDelayMs" | "maxRetryDelayMs" | "intervalJitterPercentage">;

/** The lease name of a shard: the base name plus a digest of the selector, so each shard elects its own leader. */
export function shardLeaseName(name: string, labelSelector: string | undefined): string {
  if (!labelSelector) return name;
  return `${name}-${createHash("sha256").update(labelSelector).digest("hex").slice(0, 8)}`;
}

/** Something that runs alongside the controllers until shutdown (e.g. the artifact HTTP server). */
export type Runnable = (signal: AbortSignal) => Promise<void>;

export class Manager {
  readonly client: KubeClient;
  readonly metrics = new Metrics();
  readonly log: Logger;
  readonly events: EventRecorder;
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly controllers: Controller<ReconcilableObject>[] = [];
  private readonly runnables: Runnable[] = [];
  private readonly servers: http.Server[] = [];
  /** Bound addresses of the metrics and health servers (useful with port 0). */
  readonly addresses: { metrics?: string; health?: string } = {};
  private markStopped: () => void = () => undefined;
  private readonly stoppedPromise = new Promise<void>((resolve) => (this.markStopped = resolve));

  constructor(private readonly opts: ManagerOptions) {
    validateOptions(opts);
    this.client = new KubeClient(opts.kubeConfig, { qps: opts.kubeApiQps, burst: opts.kubeApiBurst });
    this.log = opts.log;
    this.events = new EventRecorder(this.client, opts.component, opts.log, { busy: () => this.controllers.some((c) => c.busy), sink: opts.eventSink });
  }

  /** The label selector of the reconciled kinds' informers (sharding), if any. */
  get watchLabelSelector(): string | undefined {
    return this.opts.watchLabelSelector || undefined;
  }

  /**
   * The shared informer for a kind (created on first use). With a label selector it is another informer, of
   * the matching objects only (e.g. the ConfigMaps labelled for watching), and `keep` decides what its cache
   * holds; the first caller's `keep` is the one used.
   */
  informer<T extends KubeObject>(ref: ResourceRef, o: { labelSelector?: string; keep?: (obj: T) => T } = {}): Informer<T> {
    const key = `${ref.group}/${ref.version}/${ref.plural}${o.labelSelector ? `?${o.labelSelector}` : ""}`;
    let inf = this.informers.get(key);
    if (!inf) {
      const scope = o.labelSelector ? { namespace: this.opts.namespace, labelSelector: o.labelSelector, keep: o.keep as ((obj: KubeObject) => KubeObject) | undefined } : this.opts.namespace;
      inf = new Informer<KubeObject>(this.client, ref, this.log.child({ informer: ref.plural, ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}) }), scope);
      this.informers.set(key, inf);
    }
    return inf as unknown as Informer<T>;
  }

  /** Starts wiring a controller of kind; `complete(reconciler)` registers it. */
  controller<T extends ReconcilableObject>(kind: KindRef, settings: ControllerSettings<T>): ControllerBuilder<T> {
    const host: ControllerHost = {
      informer: (ref) => this.informer(ref),
      register: (controller, informer) => {
        // Sharding: this process reconciles (and caches) only the objects of its shard.
        if (this.opts.watchLabelSelector) informer.select(this.opts.watchLabelSelector);
        this.controllers.push(controller as unknown as Controller<ReconcilableObject>);
      },
      deps: { client: this.client, log: this.log, events: this.events, metrics: this.metrics },
      defaults: {
        backoff: { baseMs: this.opts.minRetryDelayMs ?? defaultBackoff.baseMs, maxMs: this.opts.maxRetryDelayMs ?? defaultBackoff.maxMs },
        jitterPercent: this.opts.intervalJitterPercentage,
      },
    };
    return new ControllerBuilder<T>(host, kind, settings);
  }

  addRunnable(r: Runnable): void {
    this.runnables.push(r);
  }

  /** Resolves once the controllers stopped (no reconcile runs any more) during shutdown. */
  stopped(): Promise<void> {
    return this.stoppedPromise;
  }

  synced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  /** Runs everything until the signal aborts; resolves after a graceful stop. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.opts.metricsAddr) this.addresses.metrics = await this.serve(metricsServer(this.metrics), this.opts.metricsAddr);
    if (this.opts.healthAddr) this.addresses.health = await this.serve(healthServer(() => this.synced()), this.opts.healthAddr);
    const stop = new AbortController();
    // Every controller, informer and runnable listens for the stop: one listener each, not a leak.
    setMaxListeners(0, stop.signal);
    const onAbort = () => stop.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const tasks: Promise<void>[] = [];
    const controllerTasks: Promise<void>[] = [];
    // A task that fails before the stop (an informer, a runnable such as the artifact server) stops the manager,
    // and run() rejects with its error once everything else has stopped gracefully.
    let failure: { err: unknown } | undefined;
    const track = (task: Promise<void>) =>
      tasks.push(
        task.catch((err: unknown) => {
          if (stop.signal.aborted) return;
          failure ??= { err };
          this.log.error({ err: errorMessage(err) }, "stopping: a manager task failed");
          stop.abort(err);
        }),
      );
    for (const inf of this.informers.values()) track(inf.run(stop.signal));
    for (const r of this.runnables) track(r(stop.signal));
    try {
      await Promise.all([...this.informers.values()].map((i) => i.waitForSync(stop.signal)));
      this.log.info({ informers: this.informers.size }, "caches synced");
      let elector: LeaderElector | undefined;
      if (this.opts.leaderElection) {
        const lease = this.opts.leaderElection;
        elector = new LeaderElector(this.client, { ...lease, name: shardLeaseName(lease.name, this.opts.watchLabelSelector) }, this.log);
        if (await elector.acquire(stop.signal)) track(elector.hold(stop.signal, () => stop.abort(new Error("leader lease lost"))));
      }
      if (!stop.signal.aborted) {
        controllerTasks.push(...this.controllers.map((c) => c.run(stop.signal)));
        this.log.info({ controllers: this.controllers.map((c) => c.name) }, "controllers started");
      }
      await new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener("abort", () => resolve(), { once: true })));
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    } finally {
      stop.abort();
      await Promise.allSettled(controllerTasks);
      await this.events.flush();
      this.markStopped();
      await Promise.allSettled(tasks);
      await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      signal.removeEventListener("abort", onAbort);
      this.log.info("manager stopped");
    }
    if (failure) throw failure.err;
  }

  private async serve(server: http.Server, addr: string): Promise<string> {
    this.servers.push(server);
    return listen(server, addr);
  }
}

/** Actionable errors for option values no flag parser should have let through. */
function validateOptions(o: ManagerOptions): void {
  const positive = (name: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new Error(`${name} must be a positive number, got ${v}`);
  };
  positive("kube API QPS (--kube-api-qps)", o.kubeApiQps);
  positive("kube API burst (--kube-api-burst)", o.kubeApiBurst);
  positive("minimum retry delay (--min-retry-delay)", o.minRetryDelayMs);
  positive("maximum retry delay (--max-retry-delay)", o.maxRetryDelayMs);
  if (o.minRetryDelayMs !== undefined && o.maxRetryDelayMs !== undefined && o.minRetryDelayMs > o.maxRetryDelayMs) {
    throw new Error(`--min-retry-delay (${o.minRetryDelayMs} ms) is longer than --max-retry-delay (${o.maxRetryDelayMs} ms)`);
  }
  const jitter = o.intervalJitterPercentage;
  if (jitter !== undefined && !(Number.isFinite(jitter) && jitter >= 0 && jitter < 100)) {
    throw new Error(`--interval-jitter-percentage must be in [0, 100), got ${jitter}`);
  }
  if (o.watchLabelSelector !== undefined && o.watchLabelSelector.trim() !== o.watchLabelSelector) {
    throw new Error(`--watch-label-selector "${o.watchLabelSelector}" has leading or trailing spaces`);
  }
}
