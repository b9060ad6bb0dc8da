// Provider modules against loopback servers answering as the real services document: the exact request each
// one makes (path, auth header, payload fields), commit statuses with Flux's context and state, and errors that
// never show the address or the token.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { providerModules, type Notification, type ProviderConfig } from "../../../controllers/notification/providers";
import { commitOf } from "../../../controllers/notification/providers/commitstatus";
import type { FluxEvent } from "../../../controllers/runtime/fluxevents";
import { loopback } from "./loopback";

const sha = "0123456789abcdef0123456789abcdef01234567";
const event = (severity: "info" | "error", reason = "ReconciliationSucceeded", message = "Applied revision: main@sha1:" + sha): FluxEvent => ({
  involvedObject: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", name: "apps", namespace: "flux-system", uid: "11111111-2222" },
  severity,
  timestamp: "2026-01-01T00:00:00Z",
  message,
  reason,
  reportingController: "kustomize-controller",
});
const note = (severity: "info" | "error", metadata: Record<string, string> = { revision: `main@sha1:${sha}`, summary: "prod" }, reason?: string): Notification => ({ event: event(severity, reason), metadata });
const config = (type: string, address: string, more: Partial<ProviderConfig> = {}): ProviderConfig => ({
  type,
  address,
  headers: {},
  uidPrefix: "0c9c2e41",
  request: { timeoutMs: 5_000 },
  ...more,
});
const send = (type: string, n: Notification, c: ProviderConfig) => providerModules.get(type)!.send(n, c);

test("slack: one attachment, colour by severity, object as author, metadata as fields, Bearer token, channel and username", async () => {
  const lb = await loopback();
  await send("slack", note("error"), config("slack", `${lb.url}/api/chat.postMessage`, { token: "xoxb-secret", channel: "general", username: "flux" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, "/api/chat.postMessage");
  assert.equal(r!.headers.authorization, "Bearer xoxb-secret");
  assert.equal(r!.headers["content-type"], "application/json");
  assert.deepEqual(r!.json, {
    channel: "general",
    username: "flux",
    attachments: [
      {
        color: "danger",
        author_name: "Kustomization/apps.flux-system",
        text: `Applied revision: main@sha1:${sha}`,
        mrkdwn_in: ["text"],
        fields: [
          { title: "revision", value: `main@sha1:${sha}`, short: false },
          { title: "summary", value: "prod", short: false },
        ],
      },
    ],
  });
});

test("discord: Slack's payload to the webhook's /slack endpoint", async () => {
  const lb = await loopback(204, "");
  await send("discord", note("info"), config("discord", `${lb.url}/api/webhooks/123/abc`));
  await lb.close();
  assert.equal(lb.requests[0]!.path, "/api/webhooks/123/abc/slack");
  assert.equal((lb.requests[0]!.json as { attachments: { color: string }[] }).attachments[0]!.color, "good");
});

test("msteams: a message with one Adaptive Card: title, message, facts", async () => {
  const lb = await loopback(202, "");
  await send("msteams", note("info"), config("msteams", `${lb.url}/workflows/hook`));
  await lb.close();
  const doc = lb.requests[0]!.json as { type: string; attachments: { contentType: string; content: { type: string; version: string; body: { type: string; text?: string; color?: string; facts?: unknown }[] } }[] };
  assert.equal(doc.type, "message");
  assert.equal(doc.attachments.length, 1);
  const card = doc.attachments[0]!;
  assert.equal(card.contentType, "application/vnd.microsoft.card.adaptive");
  assert.equal(card.content.type, "AdaptiveCard");
  assert.deepEqual(card.content.body[0], { type: "TextBlock", text: "Kustomization/apps.flux-system", weight: "bolder", size: "medium", wrap: true, color: "good" });
  assert.deepEqual(card.content.body[1], { type: "TextBlock", text: `Applied revision: main@sha1:${sha}`, wrap: true });
  assert.deepEqual(card.content.body[2], { type: "FactSet", facts: [{ title: "revision", value: `main@sha1:${sha}` }, { title: "summary", value: "prod" }] });
});

test("github: a commit status on the event's commit with Flux's context, state and description", async () => {
  const lb = await loopback(201);
  await send("github", note("info"), config("github", `${lb.url}/acme/fleet.git`, { token: "ghp_secret" }));
  await send("github", note("error", undefined, "HealthCheckFailed"), config("github", `${lb.url}/acme/fleet`, { token: "ghp_secret" }));
  await lb.close();
  assert.equal(lb.requests.length, 2);
  for (const r of lb.requests) {
    assert.equal(r.method, "POST");
    assert.equal(r.path, `/api/v3/repos/acme/fleet/statuses/${sha}`, "GitHub Enterprise API base for a host other than github.com");
    assert.equal(r.headers.authorization, "Bearer ghp_secret");
  }
  assert.deepEqual(lb.requests[0]!.json, { state: "success", context: "kustomization/apps/0c9c2e41", description: "reconciliation succeeded" });
  assert.deepEqual(lb.requests[1]!.json, { state: "failure", context: "kustomization/apps/0c9c2e41", description: "health check failed" });
});

test("gitlab: a commit status on the URL-encoded project path with PRIVATE-TOKEN", async () => {
  const lb = await loopback(201);
  await send("gitlab", note("error", undefined, "HealthCheckFailed"), config("gitlab", `${lb.url}/group/sub/app`, { token: "glpat-secret" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, `/api/v4/projects/group%2Fsub%2Fapp/statuses/${sha}`);
  assert.equal(r!.headers["private-token"], "glpat-secret");
  assert.deepEqual(r!.json, { state: "failed", name: "kustomization/apps/0c9c2e41", description: "health check failed" });
});

test("gitea: a commit status with 'Authorization: token …'", async () => {
  const lb = await loopback(201);
  await send("gitea", note("info"), config("gitea", `${lb.url}/acme/fleet`, { token: "gitea-secret" }));
  await lb.close();
  const [r] = lb.requests;
  assert.equal(r!.path, `/api/v1/repos/acme/fleet/statuses/${sha}`);
  assert.equal(r!.headers.authorization, "token gitea-secret");
  assert.deepEqual(r!.json, { state: "success", context: "kustomization/apps/0c9c2e41", description: "reconciliation succeeded" });
});

test("commit-status providers skip events without a commit; revisions in Flux's forms give the SHA", async () => {
  const lb = await loopback(201);
  await send("github", note("info", {}), config("github", `${lb.url}/acme/fleet`, { token: "t" }));
  await lb.close();
  assert.equal(lb.requests.length, 0);
  assert.equal(commitOf(`main@sha1:${sha}`), sha);
  assert.equal(commitOf(`sha1:${sha}`), sha);
  assert.equal(commitOf(`main/${sha}`), sha);
  assert.equal(commitOf("v1.2.3@sha256:" + "a".repeat(64)), "a".repeat(64));
  assert.equal(commitOf("6.1.0"), undefined);
});

test("generic posts the event with the providers' metadata and the Secret's headers; generic-hmac signs it", async () => {
  const lb = await loopback();
  await send("generic", note("info"), config("generic", `${lb.url}/hook`, { headers: { "X-Team": "web" } }));
  await send("generic-hmac", note("info"), config("generic-hmac", `${lb.url}/hook`, { token: "hmac-key" }));
  await lb.close();
  const [plain, signed] = lb.requests;
  assert.equal(plain!.headers["x-team"], "web");
  assert.deepEqual((plain!.json as FluxEvent).involvedObject, event("info").involvedObject);
  assert.deepEqual((plain!.json as FluxEvent).metadata, { revision: `main@sha1:${sha}`, summary: "prod" });
  assert.equal(signed!.headers["x-signature"], `sha256=${createHmac("sha256", "hmac-key").update(signed!.text).digest("hex")}`);
});

test("a refused request names the status, never the address or the token", async () => {
  const lb = await loopback(500, "internal error");
  const address = `${lb.url}/services/T000/B000/XXXXsecretpath`;
  await assert.rejects(
    send("slack", note("info"), config("slack", address, { token: "xoxb-very-secret" })),
    (err: Error) => /HTTP 500/.test(err.message) && !err.message.includes("secretpath") && !err.message.includes("xoxb-very-secret"),
  );
  await lb.close();
  await assert.rejects(send("slack", note("info"), config("slack", address)), (err: Error) => /request failed: (ECONNREFUSED|ECONNRESET)/.test(err.message) && !err.message.includes("secretpath"));
});
