// Kubernetes Events (events.k8s.io/v1) about the objects a controller reconciles. Identical events for the
// same object are not repeated within a window, so a failing object does not flood the apiserver. Events are
// sent in the background (a bounded queue): a reconcile never waits for one. While reconciles are running,
// events yield the apiserver to them: one at a time, at most busyEventsPerSecond; once the controllers are
// idle, the backlog goes out a few at a time.
import * as os from "node:os";
import type { Logger } from "pino";
import type { KubeClient, KubeObject, ResourceRef } from "./kube";
import { fluxEvent, type EventSink } from "./fluxevents";
import { untilIdle } from "../api/wait";

export const EventsRef: ResourceRef = { kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true };

export type EventType = "Normal" | "Warning";

/** Events waiting to be sent beyond this are dropped (and counted in a warning), oldest kept. */
const maxQueued = 10_000;
/** Event requests in flight at once while no reconcile runs. */
const senders = 4;
/** The rate of events while reconciles run (one request in flight). */
export const busyEventsPerSecond = 10;

export interface EventRecorderOptions {
  /** Identical events for the same object within this window are sent once. */
  dedupeWindowMs?: number;
  /** True while reconciles run; events are then sent one at a time, at most busyEventsPerSecond. */
  busy?: () => boolean;
  /**
   * Where Flux's events go besides the apiserver (the notification-controller, `--events-addr`). Every
   * recorded event is handed over, duplicates included: the notification-controller rate-limits them itself.
   */
  sink?: EventSink;
}

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private readonly instance = `${controllerInstance()}`;
  private sequence = 0;
  private readonly queue: { namespace: string; body: unknown; reason: string }[] = [];
  private sending = 0;
  private dropped = 0;
  private idle: (() => void)[] = [];
  private nextBusySend = 0;
  private readonly dedupeWindowMs: number;
  private readonly busy: () => boolean;
  private readonly sink?: EventSink;

  constructor(
    private readonly client: KubeClient,
    private readonly controller: string,
    private readonly log: Logger,
    o: EventRecorderOptions = {},
  ) {
    this.dedupeWindowMs = o.dedupeWindowMs ?? 10 * 60_000;
    this.busy = o.busy ?? (() => false);
    this.sink = o.sink;
  }

  /**
   * Queues an event for sending; never throws and never waits for the apiserver (events are best-effort).
   * `metadata` goes into the Event's annotations, as Flux's annotated events carry it (e.g. the revision).
   */
  record(obj: KubeObject, type: EventType, reason: string, note: string, action = "Reconcile", metadata?: Record<string, string>): void {
    this.sink?.post(fluxEvent(obj, type === "Warning" ? "error" : "info", reason, note, reportingController(obj) ?? this.controller, metadata));
    const dedupeKey = `${obj.metadata.namespace}/${obj.metadata.name}/${obj.metadata.uid}/${type}/${reason}/${note}`;
    const now = Date.now();
    const last = this.recent.get(dedupeKey);
    if (last !== undefined && now - last < this.dedupeWindowMs) return;
    this.recent.set(dedupeKey, now);
    if (this.recent.size > 10_000) this.recent.clear();
    const namespace = obj.metadata.namespace ?? "default";
    const body = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: {
        name: `${obj.metadata.name}.${(BigInt(now) * 1_000_000n + BigInt(this.sequence++ % 1_000_000)).toString(16)}`,
        namespace,
        ...(metadata && Object.keys(metadata).length ? { annotations: { ...metadata } } : {}),
      },
      eventTime: new Date(now).toISOString().replace("Z", "000Z"),
      reportingController: this.controller,
      reportingInstance: this.instance,
      action,
      reason,
      type,
      note: note.slice(0, 1024),
      regarding: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
    };
    if (this.queue.length >= maxQueued) {
      if (this.dropped++ % 1000 === 0) this.log.warn({ dropped: this.dropped, queued: this.queue.length }, "event queue full; dropping events");
      return;
    }
    this.queue.push({ namespace, body, reason });
    if (this.sending < (this.busy() ? 1 : senders)) void this.send();
  }

  /** Events waiting to be sent. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Resolves once every queued event was sent (or failed), or after timeoutMs; then events still queued are
   * dropped (and counted in a warning), so a shutdown is not held up by an apiserver that does not answer.
   */
  async flush(timeoutMs = 5_000): Promise<void> {
    await Promise.all([this.flushKube(timeoutMs), this.sink?.flush?.(timeoutMs)]);
  }

  private flushKube(timeoutMs: number): Promise<void> {
    if (!this.queue.length && !this.sending) return Promise.resolve();
    return untilIdle(this.idle, timeoutMs, () => {
      const dropped = this.queue.splice(0).length;
      if (dropped) this.log.warn({ dropped }, "events not sent before shutdown");
    });
  }

  private async send(): Promise<void> {
    this.sending++;
    try {
      for (;;) {
        if (this.busy()) {
          // Reconciles run: one sender, paced.
          if (this.sending > 1) return;
          const wait = this.nextBusySend - Date.now();
          if (wait > 0) {
            await new Promise((r) => setTimeout(r, Math.min(wait, 1000 / busyEventsPerSecond)));
            continue;
          }
          this.nextBusySend = Date.now() + 1000 / busyEventsPerSecond;
        }
        const next = this.queue.shift();
        if (!next) return;
        try {
          await this.client.create(EventsRef, next.namespace, next.body, { timeoutMs: 10_000 });
        } catch (err) {
          this.log.warn({ err: (err as Error).message, reason: next.reason }, "could not record event");
        }
        while (!this.busy() && this.sending < senders && this.queue.length > this.sending) void this.send();
      }
    } finally {
      this.sending--;
      if (!this.sending && !this.queue.length) for (const done of this.idle.splice(0)) done();
    }
  }
}

/** Flux's controller for an object's API group (source.toolkit.fluxcd.io → source-controller), if it is Flux's. */
export function reportingController(obj: KubeObject): string | undefined {
  const m = /^([a-z]+)\.toolkit\.fluxcd\.io\//.exec(obj.apiVersion);
  return m ? `${m[1]}-controller` : undefined;
}

function controllerInstance(): string {
  return `${os.hostname()}`.slice(0, 128);
}
