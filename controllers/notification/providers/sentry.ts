// sentry: the address is a DSN (https://<public key>@<host>/<project id>); events go to the project's envelope
// endpoint (/api/<project id>/envelope/) with the key in X-Sentry-Auth. An error is a Sentry error event with the
// metadata as `extra`; an info event is a transaction with one span carrying the metadata as tags. spec.channel
// is the environment.
import { createHash, randomBytes } from "node:crypto";
import { request } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export interface SentryDsn {
  /** The envelope endpoint, without the key. */
  envelopeUrl: string;
  publicKey: string;
}

export function parseSentryDsn(dsn: string): SentryDsn {
  let u: URL;
  try {
    u = new URL(dsn);
  } catch {
    throw new Error("the sentry provider's address must be a DSN: https://<public key>@<host>/<project id>");
  }
  const parts = u.pathname.split("/").filter(Boolean);
  const project = parts.pop();
  if (!u.username || !project) throw new Error("the sentry provider's address must be a DSN: https://<public key>@<host>/<project id>");
  const prefix = parts.length ? `/${parts.join("/")}` : "";
  return { envelopeUrl: `${u.protocol}//${u.host}${prefix}/api/${project}/envelope/`, publicKey: decodeURIComponent(u.username) };
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/** The envelope item for a notification: an error event or a transaction with one span. */
export function sentryItem(n: Notification, environment: string | undefined): { type: "event" | "transaction"; payload: Record<string, unknown> } {
  const o = n.event.involvedObject;
  const at = Date.parse(n.event.timestamp) / 1000;
  const eventId = createHash("sha256").update(JSON.stringify([n.event, n.metadata])).digest("hex").slice(0, 32);
  const base = { event_id: eventId, timestamp: at, platform: "other", ...(environment ? { environment } : {}), tags: { kind: o.kind, name: o.name, namespace: o.namespace, reason: n.event.reason } };
  const metadata = Object.fromEntries(shownMetadata(n.metadata));
  if (n.event.severity === "error") {
    return { type: "event", payload: { ...base, level: "error", logger: n.event.reportingController, message: { formatted: `${objectLine(n)}: ${n.event.message}` }, extra: metadata } };
  }
  const traceId = hex(16);
  const rootSpan = hex(8);
  return {
    type: "transaction",
    payload: {
      ...base,
      type: "transaction",
      transaction: objectLine(n),
      start_timestamp: at,
      contexts: { trace: { trace_id: traceId, span_id: rootSpan, op: n.event.reportingController } },
      spans: [{ trace_id: traceId, span_id: hex(8), parent_span_id: rootSpan, op: n.event.reason, description: n.event.message, start_timestamp: at, timestamp: at, tags: metadata }],
    },
  };
}

export const sentry: ProviderModule = {
  type: "sentry",
  async send(n: Notification, p: ProviderConfig) {
    const dsn = parseSentryDsn(p.address);
    const item = sentryItem(n, p.channel);
    const payload = JSON.stringify(item.payload);
    const envelope = [JSON.stringify({ event_id: item.payload.event_id, sent_at: new Date().toISOString() }), JSON.stringify({ type: item.type, length: Buffer.byteLength(payload) }), payload].join("\n");
    const auth = `Sentry sentry_version=7, sentry_key=${dsn.publicKey}, sentry_client=mooring-notification-controller/1.0`;
    await request("POST", dsn.envelopeUrl, envelope, { "content-type": "application/x-sentry-envelope", "x-sentry-auth": auth, ...p.headers }, p.request);
  },
};
