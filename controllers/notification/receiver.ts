// Receiver: the reconciler publishes status.webhookPath (/hook/ + sha256 of token, name and namespace) once
// the token Secret is there; the webhook server finds the Receiver by that path, checks the call for its
// type, and asks each resource for a reconcile with reconcile.fluxcd.io/requestedAt.
import * as http from "node:http";
import type { Logger } from "pino";
import type { KubeClient } from "../runtime/kube";
import { isNotFound } from "../runtime/kube";
import type { Reconciler } from "../runtime/controller";
import type { Action, Session } from "../runtime/session";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { markReady } from "../runtime/conditions";
import { ReconcileRequestAnnotation, SucceededReason } from "../api/meta";
import { parseDuration } from "../source/duration";
import { InvalidCELExpressionReason, receiverWebhookPath, ReceiverWebhookPathPrefix, TokenNotFoundReason, ValidationFailedReason, type Receiver } from "../api/notification";
import { SecretsRef, sourceKindRefs } from "./dispatch";
import { answer, BodyTooLargeError, maxWebhookBodyBytes, readBody } from "./server";
import { supportedReceiverTypes, verifyWebhook } from "./webhooks";
import { checkResourceFilter, resourceFilterMatches, type FilteredResource } from "./cel";
import { GoogleIdTokens } from "./googleid";

/** A resourceFilter that failed on a resource or request (the expression itself compiled). */
export class ResourceFilterError extends Error {}

/** The Receiver's token, read from its Secret now; a ReconcileError (TokenNotFound) when missing. */
export async function receiverToken(client: KubeClient, r: Receiver, signal?: AbortSignal): Promise<string> {
  return (await receiverSecret(client, r, signal)).token;
}

/** The Receiver's Secret, decoded, read now; a ReconcileError (TokenNotFound) when it or its token is missing. */
export async function receiverSecret(client: KubeClient, r: Receiver, signal?: AbortSignal): Promise<Record<string, string> & { token: string }> {
  const ns = r.metadata.namespace!;
  const name = r.spec.secretRef.name;
  let data: Record<string, string> | undefined;
  try {
    data = (await client.get<{ data?: Record<string, string> }>(SecretsRef, ns, name, { signal, timeoutMs: 10_000 })).data;
  } catch (err) {
    if (isNotFound(err)) throw new ReconcileError(TokenNotFoundReason, `unable to read token from secret '${ns}/${name}': secret not found`);
    throw new ReconcileError(TokenNotFoundReason, `unable to read token from secret '${ns}/${name}': ${errorMessage(err)}`);
  }
  const decoded = Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
  if (!decoded.token) throw new ReconcileError(TokenNotFoundReason, `invalid secret '${ns}/${name}': no 'token' key`);
  return { ...decoded, token: decoded.token };
}

export class ReceiverReconciler implements Reconciler<Receiver> {
  reconcile(s: Session<Receiver>): Promise<Action | void> {
    return s.withFinalizer(
      () => this.publish(s),
      async () => {},
    );
  }

  private async publish(s: Session<Receiver>): Promise<Action> {
    const { obj } = s;
    if (!supportedReceiverTypes.includes(obj.spec.type)) {
      throw new ReconcileError(ValidationFailedReason, `receiver type '${obj.spec.type}' is not supported by Mooring (supported: ${supportedReceiverTypes.join(", ")})`, { stalled: true });
    }
    if (obj.spec.resourceFilter) {
      try {
        checkResourceFilter(obj.spec.resourceFilter);
      } catch (err) {
        throw new ReconcileError(InvalidCELExpressionReason, `invalid resourceFilter expression: ${errorMessage(err)}`, { stalled: true });
      }
    }
    obj.spec.resources.forEach((res, i) => {
      if (!res.filter) return;
      try {
        checkResourceFilter(res.filter);
      } catch (err) {
        throw new ReconcileError(InvalidCELExpressionReason, `invalid filter expression for resources[${i}] (kind=${res.kind}, name=${res.name}): ${errorMessage(err)}`, { stalled: true });
      }
    });
    for (const res of obj.spec.resources) {
      if (res.matchLabels && Object.keys(res.matchLabels).length && res.name !== "*") {
        throw new ReconcileError(ValidationFailedReason, `resource ${res.kind}/${res.name}: matchLabels is only valid with name '*'`, { stalled: true });
      }
    }
    const token = await receiverToken(s.client, obj, s.signal);
    const path = receiverWebhookPath(token, obj.metadata.name, obj.metadata.namespace!);
    const status = (obj.status ??= {});
    const changed = status.webhookPath !== path;
    status.webhookPath = path;
    const message = `Receiver initialized for path: ${path}`;
    markReady(obj, SucceededReason, message);
    if (changed) s.event("Normal", SucceededReason, message);
    return { requeueAfter: parseDuration(obj.spec.interval ?? "10m") };
  }
}

export interface WebhookServerOptions {
  client: KubeClient;
  log: Logger;
  /** The Receiver whose status.webhookPath is this path (from the informer's cache). */
  byPath: (path: string) => Receiver | undefined;
  noCrossNamespaceRefs?: boolean;
  /** Verifies the Google-signed ID tokens of gcr Receivers (default: Google's published keys). */
  google?: GoogleIdTokens;
}

/**
 * Annotates every resource the Receiver names (name '*' with matchLabels: those that match) that its
 * resourceFilter and the entry's own filter both accept, given the webhook's JSON body as `req`; returns
 * "Kind/ns/name"s.
 */
export async function requestReconciles(client: KubeClient, r: Receiver, noCrossNamespaceRefs = false, req: Record<string, unknown> = {}): Promise<string[]> {
  const at = new Date().toISOString();
  const done: string[] = [];
  const patch = { metadata: { annotations: { [ReconcileRequestAnnotation]: at } } };
  for (const res of r.spec.resources) {
    const filters = [r.spec.resourceFilter, res.filter].filter((f): f is string => !!f);
    const ref = sourceKindRefs[res.kind];
    if (!ref) throw new Error(`resource kind '${res.kind}' is not supported`);
    const ns = res.namespace || r.metadata.namespace!;
    if (noCrossNamespaceRefs && ns !== r.metadata.namespace) throw new Error(`resource ${res.kind}/${ns}/${res.name}: cross-namespace references are not allowed`);
    let objects: FilteredResource[];
    if (res.name.includes("*")) {
      const selector = Object.entries(res.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(",");
      const list = await client.list<FilteredResource & { metadata: { name: string } }>(ref, ns, { query: selector ? { labelSelector: selector } : undefined, timeoutMs: 15_000 });
      const re = new RegExp(`^${res.name.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
      objects = list.items.filter((i) => re.test(i.metadata.name)).map((i) => ({ apiVersion: i.apiVersion ?? `${ref.group}/${ref.version}`, kind: i.kind ?? res.kind, metadata: i.metadata }));
    } else if (filters.length) {
      objects = [await client.get<FilteredResource>(ref, ns, res.name, { timeoutMs: 15_000 })];
    } else objects = [{ metadata: { name: res.name } }];
    for (const obj of objects) {
      const name = obj.metadata.name as string;
      if (!filters.every((f) => accepts(f, obj, req, `${res.kind}/${ns}/${name}`))) continue;
      await client.patch(ref, ns, name, patch, { contentType: "application/merge-patch+json", timeoutMs: 15_000 });
      done.push(`${res.kind}/${ns}/${name}`);
    }
  }
  return done;
}

function accepts(filter: string, obj: FilteredResource, req: Record<string, unknown>, what: string): boolean {
  try {
    return resourceFilterMatches(filter, obj, req);
  } catch (err) {
    throw new ResourceFilterError(`filter '${filter}' on ${what}: ${errorMessage(err)}`);
  }
}

/** The webhook's body as the resourceFilter's `req`: the JSON object of a JSON request, else empty. */
export function filterRequest(headers: http.IncomingHttpHeaders, body: Buffer): Record<string, unknown> {
  if (!/[/+]json\b/i.test(headers["content-type"] ?? "")) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString());
  } catch {
    throw new ResourceFilterError("failed to parse the request body as JSON for the resourceFilter");
  }
  return typeof doc === "object" && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
}

export function webhookServer(o: WebhookServerOptions): http.Server {
  const google = o.google ?? new GoogleIdTokens();
  return http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0]!;
    if (!path.startsWith(ReceiverWebhookPathPrefix) || !/^\/hook\/[0-9a-f]{64}$/.test(path)) {
      answer(req, res, 404, "not found");
      return;
    }
    if (req.method !== "POST") {
      answer(req, res, 405, "only POST is served here");
      return;
    }
    const receiver = o.byPath(path);
    if (!receiver || receiver.spec.suspend) {
      answer(req, res, 404, "no receiver for this path");
      return;
    }
    const name = `${receiver.metadata.namespace}/${receiver.metadata.name}`;
    const log = o.log.child({ receiver: name, type: receiver.spec.type });
    readBody(req, maxWebhookBodyBytes)
      .then(async (body) => {
        const secret = await receiverSecret(o.client, receiver);
        const token = secret.token;
        // The cached path may predate a token rotation: the path must follow from the current token.
        if (receiverWebhookPath(token, receiver.metadata.name, receiver.metadata.namespace!) !== path) {
          answer(req, res, 404, "no receiver for this path");
          return;
        }
        const verdict = await verifyWebhook(receiver.spec.type, { headers: req.headers, body }, token, receiver.spec.events, { secret, google });
        if (!verdict.trigger) {
          if (verdict.status >= 400) log.info({ status: verdict.status, why: verdict.message }, "webhook refused");
          answer(req, res, verdict.status, verdict.message);
          return;
        }
        const annotated = await requestReconciles(o.client, receiver, o.noCrossNamespaceRefs, receiver.spec.resourceFilter || receiver.spec.resources.some((r) => r.filter) ? filterRequest(req.headers, body) : {});
        log.info({ resources: annotated }, "webhook accepted: reconcile requested");
        answer(req, res, 200, "ok");
      })
      .catch((err: unknown) => {
        if (err instanceof BodyTooLargeError) {
          answer(req, res, 413, err.message);
          return;
        }
        if (err instanceof ResourceFilterError) {
          log.info({ why: err.message }, "webhook refused");
          answer(req, res, 400, err.message);
          return;
        }
        log.error({ err: errorMessage(err) }, "webhook failed");
        answer(req, res, 500, "the webhook could not be handled; see the notification-controller's logs");
      });
  });
}
