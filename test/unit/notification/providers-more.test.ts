// More provider types against loopback servers answering as the services document: Webex messages, Lark
// message cards, Matrix m.room.message events, Opsgenie alerts, Datadog events, GitHub repository_dispatch,
// Bitbucket Cloud and Azure DevOps commit statuses, Sentry envelopes — the exact request each one makes.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { providerModules, type Notification, type ProviderConfig } from "../../../controllers/notification/providers";
import { parseSentryDsn } from "../../../controllers/notification/providers/sentry";
import type { FluxEvent } from "../../../controllers/runtime/fluxevents";
import { loopback } from "./loopback";

const sha = "0123456789abcdef0123456789abcdef01234567";
const event = (severity: "info" | "error", reason = "ReconciliationSucceeded"): FluxEvent => ({
  involvedObject: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", name: "apps", namespace: "flux-system", uid: "11111111-2222" },
  severity,
  timestamp: "2026-01-01T00:00:00Z",
  message: `Applied revision: main@sha1:${sha}`,
  reason,
  reportingController: "kustomize-controller",
});
const note = (severity: "info" | "error", reason?: string, metadata: Record<string, string> = { revision: `main@sha1:${sha}`, summary: "prod" }): Notification => ({ event: event(severity, reason), metadata });
const config = (type: string, address: string, more: Partial<ProviderConfig> = {}): ProviderConfig => ({ type, address, headers: {}, uidPrefix: "0c9c2e41", request: { timeoutMs: 5_000 }, ...more });
const send = (type: string, n: Notification, c: ProviderConfig) => providerModules.get(type)!.send(n, c);

test("webex: a markdown message to the room in spec.channel with the bot's Bearer token", async () => {
  const lb = await loopback();
  await send("webex", note("error", "HealthCheckFailed"), config("webex", `${lb.url}/v1/messages`, { token: "webex-bot", channel: "Y2lzY29zcGFyazovL3VzL1JPT00v" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, "/v1/messages");
  assert.equal(r!.headers.authorization, "Bearer webex-bot");
  assert.deepEqual(r!.json, { roomId: "Y2lzY29zcGFyazovL3VzL1JPT00v", markdown: `❌ **Kustomization/apps.flux-system**\nApplied revision: main@sha1:${sha}\n* revision: main@sha1:${sha}\n* summary: prod` });
  await assert.rejects(send("webex", note("info"), config("webex", lb.url, { token: "t" })), /room id in spec.channel/);
});

test("lark: an interactive message card, red for errors, the message and metadata in lark_md", async () => {
  const lb = await loopback();
  await send("lark", note("error"), config("lark", `${lb.url}/open-apis/bot/v2/hook/abc`));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, "/open-apis/bot/v2/hook/abc");
  assert.deepEqual(r!.json, {
    msg_type: "interactive",
    card: {
      config: { wide_screen_mode: true },
      header: { title: { tag: "plain_text", content: "💣 Kustomization/apps.flux-system" }, template: "red" },
      elements: [{ tag: "div", text: { tag: "lark_md", content: `Applied revision: main@sha1:${sha}\n**revision**: main@sha1:${sha}\n**summary**: prod` } }],
    },
  });
});

test("matrix: PUT an m.text m.room.message into the room, with a transaction id stable across retries", async () => {
  const lb = await loopback(200, '{"event_id":"$e"}');
  await send("matrix", note("info"), config("matrix", `${lb.url}/`, { token: "syt_secret", channel: "!jezptmDwEeLapMLjOc:matrix.org" }));
  await send("matrix", note("info"), config("matrix", lb.url, { token: "syt_secret", channel: "!jezptmDwEeLapMLjOc:matrix.org" }));
  await lb.close();
  const [a, b] = lb.requests;
  assert.equal(a!.method, "PUT");
  assert.match(a!.path, /^\/_matrix\/client\/v3\/rooms\/!jezptmDwEeLapMLjOc%3Amatrix\.org\/send\/m\.room\.message\/[0-9a-f]{64}$/);
  assert.equal(a!.path, b!.path, "the same event has the same transaction id");
  assert.equal(a!.headers.authorization, "Bearer syt_secret");
  assert.deepEqual(a!.json, { msgtype: "m.text", body: `💫 Kustomization/apps.flux-system\nApplied revision: main@sha1:${sha}\nrevision: main@sha1:${sha}\nsummary: prod` });
});

test("opsgenie: an alert with GenieKey auth, the object and reason as message, metadata as details", async () => {
  const lb = await loopback(202, '{"result":"Request will be processed","requestId":"1"}');
  await send("opsgenie", note("error", "HealthCheckFailed"), config("opsgenie", `${lb.url}/v2/alerts`, { token: "genie-key" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, "/v2/alerts");
  assert.equal(r!.headers.authorization, "GenieKey genie-key");
  assert.deepEqual(r!.json, { message: "Kustomization/apps.flux-system: HealthCheckFailed", description: `Applied revision: main@sha1:${sha}`, details: { severity: "error", revision: `main@sha1:${sha}`, summary: "prod" } });
});

test("datadog: an event on /api/v1/events with DD-API-KEY, alert_type by severity, metadata as tags", async () => {
  const lb = await loopback(202, '{"status":"ok"}');
  await send("datadog", note("info"), config("datadog", `${lb.url}/`, { token: "dd-api-key" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, "/api/v1/events");
  assert.equal(r!.headers["dd-api-key"], "dd-api-key");
  assert.deepEqual(r!.json, {
    title: "Kustomization/apps.flux-system",
    text: `Applied revision: main@sha1:${sha}`,
    alert_type: "info",
    source_type_name: "fluxcd",
    date_happened: 1767225600,
    aggregation_key: "Kustomization/flux-system/apps",
    tags: ["flux", "flux_reporting_controller:kustomize-controller", "flux_reason:ReconciliationSucceeded", "flux_kustomization_name:apps", "flux_kustomization_namespace:flux-system", `revision:main@sha1:${sha}`, "summary:prod"],
  });
});

test("githubdispatch: a repository_dispatch with event_type Kind/name.namespace and the event as client_payload", async () => {
  const lb = await loopback(204, "");
  await send("githubdispatch", note("info"), config("githubdispatch", `${lb.url}/acme/fleet`, { token: "ghp_dispatch" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, "/api/v3/repos/acme/fleet/dispatches");
  assert.equal(r!.headers.authorization, "Bearer ghp_dispatch");
  assert.deepEqual(r!.json, { event_type: "Kustomization/apps.flux-system", client_payload: { ...event("info"), metadata: { revision: `main@sha1:${sha}`, summary: "prod" } } });
});

test("bitbucket: a Cloud build status with basic auth from '<user>:<app password>', key the sha1 of Flux's id", async () => {
  const lb = await loopback(201);
  await send("bitbucket", note("error", "HealthCheckFailed"), config("bitbucket", `${lb.url}/acme/fleet.git`, { token: "bot:app-pass" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, `/2.0/repositories/acme/fleet/commit/${sha}/statuses/build`);
  assert.equal(r!.headers.authorization, `Basic ${Buffer.from("bot:app-pass").toString("base64")}`);
  const id = "kustomization/apps/0c9c2e41";
  assert.deepEqual(r!.json, { state: "FAILED", key: createHash("sha1").update(id).digest("hex"), name: id, description: "health check failed", url: "https://bitbucket.org" });
  await assert.rejects(send("bitbucket", note("info"), config("bitbucket", `${lb.url}/acme/fleet`, { token: "no-colon" })), /<username>:<app-password>/);
});

test("azuredevops: a commit status on the repository under _git with the PAT as basic auth, genre fluxcd:<summary>", async () => {
  const lb = await loopback(201);
  await send("azuredevops", note("info"), config("azuredevops", `${lb.url}/acme/platform/_git/fleet`, { token: "ado-pat" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, `/acme/platform/_apis/git/repositories/fleet/commits/${sha}/statuses?api-version=6.0`);
  assert.equal(r!.headers.authorization, `Basic ${Buffer.from(":ado-pat").toString("base64")}`);
  assert.deepEqual(r!.json, { state: "succeeded", description: "reconciliation succeeded", context: { genre: "fluxcd:prod", name: "kustomization/apps/0c9c2e41" } });
  await assert.rejects(send("azuredevops", note("info"), config("azuredevops", `${lb.url}/acme/fleet`, { token: "t" })), /_git/);
});

test("sentry: an error event or, for info, a transaction with a span, in an envelope to the DSN's project", async () => {
  const lb = await loopback();
  const dsn = `${lb.url.replace("http://", "http://publickey123@")}/42`;
  await send("sentry", note("error", "HealthCheckFailed"), config("sentry", dsn, { channel: "staging" }));
  await send("sentry", note("info"), config("sentry", dsn, { channel: "staging" }));
  await lb.close();
  assert.deepEqual(parseSentryDsn("https://k@o1.ingest.sentry.io/prefix/7"), { envelopeUrl: "https://o1.ingest.sentry.io/prefix/api/7/envelope/", publicKey: "k" });
  for (const r of lb.requests) {
    assert.equal(r.path, "/api/42/envelope/");
    assert.equal(r.headers["content-type"], "application/x-sentry-envelope");
    assert.match(r.headers["x-sentry-auth"] as string, /^Sentry sentry_version=7, sentry_key=publickey123, sentry_client=/);
    assert.equal(r.headers.authorization, undefined, "the key is not sent as basic auth");
  }
  const lines = (i: number) => lb.requests[i]!.text.split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  const [head, itemHead, error] = lines(0);
  assert.equal(itemHead!.type, "event");
  assert.equal(itemHead!.length, Buffer.byteLength(lb.requests[0]!.text.split("\n")[2]!));
  assert.equal(head!.event_id, error!.event_id);
  assert.match(error!.event_id as string, /^[0-9a-f]{32}$/);
  assert.deepEqual({ level: error!.level, environment: error!.environment, message: error!.message, extra: error!.extra, tags: error!.tags }, {
    level: "error",
    environment: "staging",
    message: { formatted: `Kustomization/apps.flux-system: Applied revision: main@sha1:${sha}` },
    extra: { revision: `main@sha1:${sha}`, summary: "prod" },
    tags: { kind: "Kustomization", name: "apps", namespace: "flux-system", reason: "HealthCheckFailed" },
  });
  const [, txHead, tx] = lines(1);
  assert.equal(txHead!.type, "transaction");
  assert.equal(tx!.type, "transaction");
  assert.equal(tx!.transaction, "Kustomization/apps.flux-system");
  const trace = (tx!.contexts as { trace: { trace_id: string; span_id: string } }).trace;
  const [span] = tx!.spans as { trace_id: string; parent_span_id: string; description: string; tags: Record<string, string> }[];
  assert.equal(span!.trace_id, trace.trace_id);
  assert.equal(span!.parent_span_id, trace.span_id);
  assert.equal(span!.description, `Applied revision: main@sha1:${sha}`);
  assert.deepEqual(span!.tags, { revision: `main@sha1:${sha}`, summary: "prod" });
});

test("the new providers' errors name neither the address nor the token", async () => {
  const lb = await loopback(401, "bad key");
  for (const type of ["webex", "opsgenie", "datadog", "githubdispatch", "matrix"]) {
    await assert.rejects(
      send(type, note("info"), config(type, `${lb.url}/SECRET-PATH/acme/fleet`, { token: "TOKEN-SECRET", channel: "!room:x" })),
      (err: Error) => /HTTP 401/.test(err.message) && !err.message.includes("SECRET"),
      type,
    );
  }
  await lb.close();
});
