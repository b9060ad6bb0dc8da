// Flux's events, sent besides the Kubernetes Events: the JSON document Flux's controllers POST to the
// notification-controller (`--events-addr`). Sending never blocks a reconcile: events wait in a bounded queue
// and go out in the background, retried with exponential backoff on connection errors and 5xx answers, the
// way Flux's recorder retries. The address may hold credentials, so it never appears in logs.
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import type { Logger } from "pino";
import type { KubeObject } from "./kube";
import { errorMessage } from "./errors";
import { untilIdle } from "../api/wait";

/** Flux's event severities; `trace` events stay Kubernetes Events and are never posted. */
export type EventSeverity = "info" | "error" | "trace";

/** The object an event is about (a core/v1 ObjectReference). */
export interface InvolvedObject {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
  resourceVersion?: string;
}

/** Flux's event (github.com/fluxcd/pkg/apis/event/v1beta1 Event), as JSON. */
export interface FluxEvent {
  involvedObject: InvolvedObject;
  severity: EventSeverity;
  /** RFC 3339, whole seconds, UTC. */
  timestamp: string;
  message: string;
  reason: string;
  /** The event's annotations, keys prefixed with the API group (e.g. "kustomize.toolkit.fluxcd.io/revision"). */
  metadata?: Record<string, string>;
  reportingController: string;
  reportingInstance?: string;
}

/** Flux caps an event message at this many characters. */
export const maxEventMessageLength = 39_000;

/** Where Flux events go: an HTTP endpoint, or a notification-controller in the same process. */
export interface EventSink {
  /** Queues an event; never throws, never waits. */
  post(event: FluxEvent): void;
  /** Resolves once queued events were delivered (or timed out and dropped). */
  flush?(timeoutMs?: number): Promise<void>;
}

/** Builds the event a controller sends about an object. */
export function fluxEvent(obj: KubeObject, severity: EventSeverity, reason: string, message: string, controller: string, metadata?: Record<string, string>, now = new Date()): FluxEvent {
  return {
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace ?? "default",
      ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
      ...(obj.metadata.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}),
    },
    severity,
    timestamp: now.toISOString().replace(/\.\d+Z$/, "Z"),
    message: message.length > maxEventMessageLength ? message.slice(0, maxEventMessageLength) : message,
    reason,
    ...(metadata && Object.keys(metadata).length ? { metadata: { ...metadata } } : {}),
    reportingController: controller,
    reportingInstance: os.hostname(),
  };
}

export interface HttpEventSinkOptions {
  log: Logger;
  /** Events waiting beyond this are dropped (counted in a warning). Default 1000. */
  maxQueued?: number;
  /** Requests in flight at once. Default 2. */
  senders?: number;
  /** Attempts after the first one. Default 4 (Flux's retry count). */
  retries?: number;
  /** First retry delay, doubling per attempt up to maxBackoffMs. Defaults 1 s and 30 s, as Flux's client. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Per-request timeout. Default 5 s, as Flux's. */
  timeoutMs?: number;
}

/** Posts events to the notification-controller's address (`--events-addr`). */
export class HttpEventSink implements EventSink {
  private readonly queue: FluxEvent[] = [];
  private sending = 0;
  private dropped = 0;
  private idle: (() => void)[] = [];
  private readonly stop = new AbortController();
  private readonly o: Required<Omit<HttpEventSinkOptions, "log">> & { log: Logger };
  /** Events delivered (answered 2xx or 429) and given up on, for metrics and tests. */
  delivered = 0;
  failed = 0;

  private readonly url: URL;
  private readonly headers: Record<string, string> = { "content-type": "application/json" };
  /** Kept-alive connections, one per sender: a burst of events is not a burst of TCP handshakes. */
  private readonly agent: http.Agent;

  constructor(address: string, o: HttpEventSinkOptions) {
    this.o = { maxQueued: 1000, senders: 2, retries: 4, minBackoffMs: 1_000, maxBackoffMs: 30_000, timeoutMs: 5_000, ...o };
    // Credentials in the address become a Basic authorization header.
    const url = new URL(address);
    if (url.username || url.password) {
      this.headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
      url.username = "";
      url.password = "";
    }
    this.url = url;
    const agentOptions = { keepAlive: true, maxSockets: this.o.senders };
    this.agent = url.protocol === "https:" ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  post(event: FluxEvent): void {
    if (event.severity === "trace" || this.stop.signal.aborted) return;
    if (this.queue.length >= this.o.maxQueued) {
      if (this.dropped++ % 100 === 0) this.o.log.warn({ dropped: this.dropped, queued: this.queue.length }, "events queue for the notification-controller is full; dropping events");
      return;
    }
    this.queue.push(event);
    if (this.sending < this.o.senders) void this.send();
  }

  get pending(): number {
    return this.queue.length;
  }

  flush(timeoutMs = 5_000): Promise<void> {
    if (!this.queue.length && !this.sending) return Promise.resolve();
    return untilIdle(this.idle, timeoutMs, () => {
      const dropped = this.queue.splice(0).length;
      this.stop.abort();
      if (dropped) this.o.log.warn({ dropped }, "events not posted to the notification-controller before shutdown");
    });
  }

  private async send(): Promise<void> {
    this.sending++;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        if (await this.deliver(next)) this.delivered++;
        else this.failed++;
      }
    } finally {
      this.sending--;
      if (!this.sending && !this.queue.length) for (const done of this.idle.splice(0)) done();
    }
  }

  /** One event, with retries; true when the receiver took it. */
  private async deliver(event: FluxEvent): Promise<boolean> {
    const body = JSON.stringify(event);
    let last = "";
    for (let attempt = 0; attempt <= this.o.retries; attempt++) {
      if (attempt > 0) {
        const delay = Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** (attempt - 1));
        if (!(await sleep(delay, this.stop.signal))) break;
      }
      try {
        const status = await this.request(body);
        // 429: the receiver already has this one (rate limit); 202: accepted. Neither is retried.
        if ((status >= 200 && status < 300) || status === 429) return true;
        last = `HTTP ${status}`;
        if (status < 500 || status === 501) break;
      } catch (err) {
        // The address may be secret: it never shows in a message, only the error's code.
        const code = (err as { code?: unknown }).code;
        last = typeof code === "string" ? `request failed (${code})` : errorMessage(err).split(this.url.host).join("<events-addr>");
      }
    }
    this.o.log.warn({ reason: event.reason, kind: event.involvedObject.kind, name: event.involvedObject.name, namespace: event.involvedObject.namespace, err: last }, "could not post event to the notification-controller");
    return false;
  }

  /** One POST of the body; resolves with the status code once the answer was read. */
  private request(body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const send = this.url.protocol === "https:" ? https.request : http.request;
      const req = send(this.url, { method: "POST", agent: this.agent, headers: { ...this.headers, "content-length": Buffer.byteLength(body) }, signal: this.stop.signal }, (res) => {
        res.on("error", reject);
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.resume();
      });
      req.setTimeout(this.o.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${this.o.timeoutMs} ms`), { code: "ETIMEDOUT" })));
      req.on("error", reject);
      req.end(body);
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
