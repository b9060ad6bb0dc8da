// Kubernetes Events (events.k8s.io/v1) about the objects a controller reconciles. Identical events for the
// same object are not repeated within a window, so a failing object does not flood the apiserver.
import * as os from "node:os";
import type { Logger } from "pino";
import type { KubeClient, KubeObject, ResourceRef } from "./kube";

export const EventsRef: ResourceRef = { kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true };

export type EventType = "Normal" | "Warning";

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private readonly instance = `${controllerInstance()}`;
  private sequence = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly controller: string,
    private readonly log: Logger,
    private readonly dedupeWindowMs = 10 * 60_000,
  ) {}

  /** Records an event; failures are logged, never thrown (events are best-effort). */
  async record(obj: KubeObject, type: EventType, reason: string, note: string, action = "Reconcile"): Promise<void> {
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
      metadata: { name: `${obj.metadata.name}.${(BigInt(now) * 1_000_000n + BigInt(this.sequence++ % 1_000_000)).toString(16)}`, namespace },
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
    try {
      await this.client.create(EventsRef, namespace, body, { timeoutMs: 10_000 });
    } catch (err) {
      this.log.warn({ err: (err as Error).message, reason }, "could not record event");
    }
  }
}

function controllerInstance(): string {
  return `${os.hostname()}`.slice(0, 128);
}
