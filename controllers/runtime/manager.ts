// The Manager owns what controllers share: the kube client, one informer per kind, events, metrics,
// health endpoints, leader election and graceful shutdown. A controller is registered with a Reconciler.
import type * as http from "node:http";
import type { Logger } from "pino";
import { KubeClient, type KubeObject, type ResourceRef } from "./kube";
import { Informer } from "./informer";
import { Controller, type Reconciler } from "./controller";
import { EventRecorder } from "./events";
import { Metrics } from "./metrics";
import { LeaderElector, type LeaderElectionOptions } from "./leader";
import { healthServer, listen, metricsServer } from "./http";
import type { BackoffPolicy } from "./queue";
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
}

/** Something that runs alongside the controllers until shutdown (e.g. the artifact HTTP server). */
export type Runnable = (signal: AbortSignal) => Promise<void>;

export interface ControllerRegistration<T extends KubeObject> {
  name: string;
  resource: ResourceRef;
  reconciler: Reconciler<T>;
  concurrency?: number;
  backoff?: BackoffPolicy;
  reconcileTimeoutMs?: (obj: T) => number;
}

export class Manager {
  readonly client: KubeClient;
  readonly metrics = new Metrics();
  readonly log: Logger;
  readonly events: EventRecorder;
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly controllers: Controller<KubeObject>[] = [];
  private readonly runnables: Runnable[] = [];
  private readonly servers: http.Server[] = [];
  /** Bound addresses of the metrics and health servers (useful with port 0). */
  readonly addresses: { metrics?: string; health?: string } = {};
  private markStopped: () => void = () => undefined;
  private readonly stoppedPromise = new Promise<void>((resolve) => (this.markStopped = resolve));

  constructor(private readonly opts: ManagerOptions) {
    this.client = new KubeClient(opts.kubeConfig);
    this.log = opts.log;
    this.events = new EventRecorder(this.client, opts.component, opts.log, { busy: () => this.controllers.some((c) => c.busy) });
  }

  /** The shared informer for a kind (created on first use). */
  informer<T extends KubeObject>(ref: ResourceRef): Informer<T> {
    const key = `${ref.group}/${ref.version}/${ref.plural}`;
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer<KubeObject>(this.client, ref, this.log.child({ informer: ref.plural }), this.opts.namespace);
      this.informers.set(key, inf);
    }
    return inf as unknown as Informer<T>;
  }

  add<T extends KubeObject>(reg: ControllerRegistration<T>): Controller<T> {
    const c = new Controller<T>(
      { name: reg.name, informer: this.informer<T>(reg.resource), reconciler: reg.reconciler, concurrency: reg.concurrency, backoff: reg.backoff, reconcileTimeoutMs: reg.reconcileTimeoutMs },
      { client: this.client, log: this.log, events: this.events, metrics: this.metrics },
    );
    this.controllers.push(c as unknown as Controller<KubeObject>);
    return c;
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
    const onAbort = () => stop.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const tasks: Promise<void>[] = [];
    const controllerTasks: Promise<void>[] = [];
    for (const inf of this.informers.values()) tasks.push(inf.run(stop.signal));
    for (const r of this.runnables) tasks.push(r(stop.signal));
    try {
      await Promise.all([...this.informers.values()].map((i) => i.waitForSync(stop.signal)));
      this.log.info({ informers: this.informers.size }, "caches synced");
      let elector: LeaderElector | undefined;
      if (this.opts.leaderElection) {
        elector = new LeaderElector(this.client, this.opts.leaderElection, this.log);
        if (!(await elector.acquire(stop.signal))) return;
        tasks.push(elector.hold(stop.signal, () => stop.abort(new Error("leader lease lost"))));
      }
      controllerTasks.push(...this.controllers.map((c) => c.run(stop.signal)));
      this.log.info({ controllers: this.controllers.map((c) => c.name) }, "controllers started");
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
  }

  private async serve(server: http.Server, addr: string): Promise<string> {
    this.servers.push(server);
    return listen(server, addr);
  }
}
