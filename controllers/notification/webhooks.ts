// Checking an incoming webhook per Receiver type: the signature or token it must carry, the event type it
// names (against spec.events), and the payload shape the registry types send. A call that fails here
// triggers nothing.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { ReceiverType } from "../api/notification";
import { GoogleIdTokens, IdTokenError } from "./googleid";

export interface Webhook {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** What the check decided: trigger the resources, answer without triggering (e.g. GitHub's ping), or refuse. */
export type Verdict = { trigger: true } | { trigger: false; status: number; message: string };

const refuse = (status: number, message: string): Verdict => ({ trigger: false, status, message });
const ok: Verdict = { trigger: true };

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** "sha256=<hex>" (or sha1/sha512) against the HMAC of the body keyed with the token. */
function hmacMatches(signature: string | undefined, body: Buffer, token: string, allowed: readonly string[]): boolean {
  if (!signature) return false;
  const eq = signature.indexOf("=");
  if (eq < 0) return false;
  const algo = signature.slice(0, eq).toLowerCase();
  if (!allowed.includes(algo)) return false;
  return equal(createHmac(algo, token).update(body).digest("hex"), signature.slice(eq + 1).toLowerCase());
}

function eventAllowed(events: string[] | undefined, event: string | undefined): boolean {
  if (!events || events.length === 0) return true;
  return event !== undefined && events.some((e) => e.toLowerCase() === event.toLowerCase());
}

function json(body: Buffer): Record<string, unknown> | undefined {
  try {
    const doc: unknown = JSON.parse(body.toString());
    return typeof doc === "object" && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const get = (doc: Record<string, unknown> | undefined, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (typeof v === "object" && v !== null ? (v as Record<string, unknown>)[k] : undefined), doc);

/** What some checks need besides the token: the rest of the Receiver's Secret, and Google's token keys. */
export interface WebhookContext {
  /** The Receiver Secret's keys, decoded (gcr reads 'email' and 'audience'). */
  secret?: Record<string, string>;
  google?: GoogleIdTokens;
}

type Check = (w: Webhook, token: string, events: string[] | undefined, ctx: WebhookContext) => Verdict | Promise<Verdict>;

/** A CDEvents type without its version: "dev.cdevents.change.merged.0.2.0" → "dev.cdevents.change.merged". */
const unversioned = (type: string): string => type.replace(/\.\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, "");
const cdeventType = /^dev\.cdeventsx?\.[a-z0-9-]+\.[a-z0-9-]+\.\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const isText = (v: unknown): v is string => typeof v === "string" && v !== "";

/**
 * A CDEvent carried by the CloudEvents HTTP binding: binary mode (ce-* headers, the CDEvent as the body) or
 * structured mode (application/cloudevents+json, the CDEvent in 'data'). Its context and subject must be
 * complete and its type the CloudEvent's; spec.events names types with or without their version.
 */
function checkCDEvent(w: Webhook, events: string[] | undefined): Verdict {
  const contentType = header(w.headers, "Content-Type") ?? "";
  const doc = json(w.body);
  if (!doc) return refuse(400, "the body is not a JSON object");
  let ce: { specversion?: unknown; id?: unknown; source?: unknown; type?: unknown };
  let data: Record<string, unknown> | undefined;
  if (contentType.toLowerCase().startsWith("application/cloudevents+json")) {
    ce = doc;
    const d = doc.data;
    data = typeof d === "object" && d !== null && !Array.isArray(d) ? (d as Record<string, unknown>) : undefined;
  } else {
    ce = { specversion: header(w.headers, "ce-specversion"), id: header(w.headers, "ce-id"), source: header(w.headers, "ce-source"), type: header(w.headers, "ce-type") };
    data = doc;
  }
  if (ce.specversion !== "1.0") return refuse(400, "not a CloudEvent: specversion must be 1.0 (ce-specversion header or structured mode)");
  for (const k of ["id", "source", "type"] as const) if (!isText(ce[k])) return refuse(400, `not a CloudEvent: '${k}' is missing`);
  const type = ce.type as string;
  if (!cdeventType.test(type)) return refuse(400, `the CloudEvent type '${type}' is not a CDEvents type (dev.cdevents.<subject>.<predicate>.<version>)`);
  const context = get(data, "context") as Record<string, unknown> | undefined;
  const subject = get(data, "subject") as Record<string, unknown> | undefined;
  if (!context || !subject) return refuse(400, "not a CDEvent: 'context' and 'subject' are required");
  for (const k of ["id", "source", "type", "timestamp"]) if (!isText(context[k])) return refuse(400, `not a CDEvent: context.${k} is missing`);
  if (!isText(context.specversion) && !isText(context.version)) return refuse(400, "not a CDEvent: context.specversion is missing");
  if (Number.isNaN(Date.parse(context.timestamp as string))) return refuse(400, "not a CDEvent: context.timestamp is not RFC 3339");
  if (context.type !== type) return refuse(400, `the CDEvent's context.type '${String(context.type)}' is not the CloudEvent's type '${type}'`);
  if (!isText(subject.id)) return refuse(400, "not a CDEvent: subject.id is missing");
  if (typeof subject.content !== "object" || subject.content === null || Array.isArray(subject.content)) return refuse(400, "not a CDEvent: subject.content is missing");
  if (events?.length && !events.some((e) => e.toLowerCase() === type.toLowerCase() || e.toLowerCase() === unversioned(type).toLowerCase())) {
    return refuse(400, `CDEvent '${type}' is not in spec.events`);
  }
  return ok;
}

/** A Pub/Sub push from Google Container/Artifact Registry: Google's ID token for the Secret's email and audience. */
async function checkGcr(w: Webhook, ctx: WebhookContext): Promise<Verdict> {
  const email = ctx.secret?.email?.trim();
  const audience = ctx.secret?.audience?.trim();
  if (!email || !audience) return refuse(400, "the Receiver's Secret needs 'email' (the push subscription's service account) and 'audience' for gcr");
  if (!ctx.google) return refuse(500, "no Google token verifier is configured");
  try {
    await ctx.google.verify(header(w.headers, "Authorization"), email, audience);
  } catch (err) {
    if (err instanceof IdTokenError) return refuse(401, `cannot authenticate the GCR request: ${err.message}`);
    throw err;
  }
  const doc = json(w.body);
  const data = get(doc, "message", "data");
  if (typeof data !== "string") return refuse(400, "not a Pub/Sub push payload (message.data)");
  const inner = json(Buffer.from(data, "base64"));
  if (!inner || typeof inner.action !== "string") return refuse(400, "the Pub/Sub message is not a registry notification (action, digest, tag)");
  return ok;
}

const checks: Partial<Record<ReceiverType, Check>> = {
  generic: () => ok,
  "generic-hmac": (w, token) => (hmacMatches(header(w.headers, "X-Signature"), w.body, token, ["sha1", "sha256", "sha512"]) ? ok : refuse(401, "missing or invalid X-Signature")),
  github: (w, token, events) => {
    const sig256 = header(w.headers, "X-Hub-Signature-256");
    const valid = sig256 ? hmacMatches(sig256, w.body, token, ["sha256"]) : hmacMatches(header(w.headers, "X-Hub-Signature"), w.body, token, ["sha1"]);
    if (!valid) return refuse(401, "missing or invalid X-Hub-Signature-256");
    const event = header(w.headers, "X-GitHub-Event");
    if (event === "ping") return refuse(200, "pong");
    if (!eventAllowed(events, event)) return refuse(400, `GitHub event '${event ?? ""}' is not in spec.events`);
    if (!json(w.body)) return refuse(400, "the payload is not a JSON object");
    return ok;
  },
  gitlab: (w, token, events) => {
    const given = header(w.headers, "X-Gitlab-Token");
    if (!given || !equal(given, token)) return refuse(401, "missing or invalid X-Gitlab-Token");
    const event = header(w.headers, "X-Gitlab-Event");
    if (!eventAllowed(events, event)) return refuse(400, `GitLab event '${event ?? ""}' is not in spec.events`);
    return ok;
  },
  bitbucket: (w, token, events) => {
    if (!hmacMatches(header(w.headers, "X-Hub-Signature"), w.body, token, ["sha256"])) return refuse(401, "missing or invalid X-Hub-Signature");
    const event = header(w.headers, "X-Event-Key");
    if (event === "diagnostics:ping") return refuse(200, "pong");
    if (!eventAllowed(events, event)) return refuse(400, `Bitbucket event '${event ?? ""}' is not in spec.events`);
    return ok;
  },
  harbor: (w, token) => {
    const given = header(w.headers, "Authorization");
    return given && equal(given, token) ? ok : refuse(401, "missing or invalid Authorization header");
  },
  nexus: (w, token) => {
    const given = header(w.headers, "X-Nexus-Webhook-Signature");
    return given && equal(createHmac("sha1", token).update(w.body).digest("hex"), given.toLowerCase()) ? ok : refuse(401, "missing or invalid X-Nexus-Webhook-Signature");
  },
  dockerhub: (w) => {
    const doc = json(w.body);
    return typeof get(doc, "repository", "repo_name") === "string" && typeof get(doc, "push_data", "tag") === "string" ? ok : refuse(400, "not a Docker Hub push payload (repository.repo_name, push_data.tag)");
  },
  quay: (w) => {
    const doc = json(w.body);
    return typeof get(doc, "docker_url") === "string" && Array.isArray(get(doc, "updated_tags")) ? ok : refuse(400, "not a Quay push payload (docker_url, updated_tags)");
  },
  cdevents: (w, _token, events) => checkCDEvent(w, events),
  gcr: (w, _token, _events, ctx) => checkGcr(w, ctx),
  acr: (w) => {
    const doc = json(w.body);
    return typeof get(doc, "action") === "string" && typeof get(doc, "target", "repository") === "string" ? ok : refuse(400, "not an ACR payload (action, target.repository)");
  },
};

/** The types this controller checks. */
export const supportedReceiverTypes = Object.keys(checks) as ReceiverType[];

export async function verifyWebhook(type: ReceiverType, w: Webhook, token: string, events: string[] | undefined, ctx: WebhookContext = {}): Promise<Verdict> {
  const check = checks[type];
  if (!check) return refuse(400, `receiver type '${type}' is not supported`);
  return check(w, token, events, ctx);
}
