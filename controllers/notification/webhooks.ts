// Checking an incoming webhook per Receiver type: the signature or token it must carry, the event type it
// names (against spec.events), and the payload shape the registry types send. A call that fails here
// triggers nothing.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { ReceiverType } from "../api/notification";

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

type Check = (w: Webhook, token: string, events: string[] | undefined) => Verdict;

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
  acr: (w) => {
    const doc = json(w.body);
    return typeof get(doc, "action") === "string" && typeof get(doc, "target", "repository") === "string" ? ok : refuse(400, "not an ACR payload (action, target.repository)");
  },
};

/** The types this controller checks; gcr (Google-signed ID tokens) and cdevents are not supported. */
export const supportedReceiverTypes = Object.keys(checks) as ReceiverType[];

export function verifyWebhook(type: ReceiverType, w: Webhook, token: string, events: string[] | undefined): Verdict {
  const check = checks[type];
  if (!check) return refuse(400, `receiver type '${type}' is not supported`);
  return check(w, token, events);
}
