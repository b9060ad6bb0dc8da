// The notification-controller on the real apiserver, as its ServiceAccount: events in → Alerts → Debian's
// Prometheus Alertmanager; duplicates answered 429; Receivers publish Flux's webhook path, refuse bad
// signatures without triggering, and annotate their resources on a valid GitHub or GitLab call; the flux CLI
// reads and reconciles them; tokens and provider addresses never show in logs, events or status.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { toolPath } from "../../../local/tools";
import { newLogger } from "../../../controllers/runtime/log";
import { HttpEventSink, fluxEvent } from "../../../controllers/runtime/fluxevents";
import { receiverWebhookPath, type Alert, type Provider, type Receiver } from "../../../controllers/api/notification";
import { GitRepositoryKind, type GitRepository } from "../../../controllers/api/source";
import { ReconcileRequestAnnotation } from "../../../controllers/api/meta";
import { newNamespace, waitFor } from "../../harness/cluster";
import { Alerts, Events, Providers, Receivers, createSecret, startAlertmanager, startNotificationEnv, type Alertmanager, type NotificationEnv } from "./env";
import { loopback } from "../../unit/notification/loopback";

const run = promisify(execFile);
const GitRepos = GitRepositoryKind.resource;
const sha = "89abcdef0123456789abcdef0123456789abcdef";

const provider = (ns: string, name: string, spec: Provider["spec"]): Provider => ({ apiVersion: "notification.toolkit.fluxcd.io/v1beta3", kind: "Provider", metadata: { name, namespace: ns }, spec });
const alert = (ns: string, name: string, spec: Alert["spec"]): Alert => ({ apiVersion: "notification.toolkit.fluxcd.io/v1beta3", kind: "Alert", metadata: { name, namespace: ns }, spec });
const receiver = (ns: string, name: string, spec: Receiver["spec"]): Receiver => ({ apiVersion: "notification.toolkit.fluxcd.io/v1", kind: "Receiver", metadata: { name, namespace: ns }, spec });
const gitRepo = (ns: string, name: string, labels?: Record<string, string>): GitRepository => ({
  apiVersion: GitRepositoryKind.apiVersion,
  kind: "GitRepository",
  metadata: { name, namespace: ns, labels },
  spec: { url: "https://example.invalid/fleet.git", interval: "10m" },
});
const kustomization = (ns: string, name: string) => ({ apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name, namespace: ns, uid: "3f1c9a7e-0000" } });

describe("notification-controller", () => {
  let env: NotificationEnv;
  let am: Alertmanager;
  let flux: string;
  const kubeEnv = () => ({ ...process.env, KUBECONFIG: process.env.MOORING_TEST_KUBECONFIG! });
  const cached = (ref: typeof Alerts, ns: string, name: string) => waitFor(() => env.controller.manager.informer(ref).get(`${ns}/${name}`), { what: `${ref.kind} ${ns}/${name} in the cache` });

  before(async () => {
    flux = await toolPath("flux");
    am = await startAlertmanager();
    env = await startNotificationEnv();
  });
  after(async () => {
    await env?.stop();
    await am?.stop();
  });

  test("an error event posted by a controller reaches Prometheus Alertmanager through a matching Alert", async (t) => {
    const ns = await newNamespace(t);
    await env.admin.create(Providers, ns, provider(ns, "am", { type: "alertmanager", address: `${am.url}/api/v2/alerts` }));
    await env.admin.create(Alerts, ns, alert(ns, "errors", { providerRef: { name: "am" }, eventSeverity: "error", eventSources: [{ kind: "Kustomization", name: "*" }], eventMetadata: { env: "ci" }, exclusionList: ["ignored"] }));
    await cached(Alerts, ns, "errors");
    await cached(Providers, ns, "am");
    const sink = new HttpEventSink(env.eventsUrl, { log: newLogger("silent") });
    const revision = { "kustomize.toolkit.fluxcd.io/revision": `main@sha1:${sha}` };
    sink.post(fluxEvent(kustomization(ns, "apps"), "info", "ReconciliationSucceeded", "an info event", "kustomize-controller", revision));
    sink.post(fluxEvent(kustomization(ns, "apps"), "error", "HealthCheckFailed", "this one is ignored", "kustomize-controller", revision));
    sink.post(fluxEvent(kustomization(ns, "apps"), "error", "HealthCheckFailed", "Deployment/apps/web failed to become ready", "kustomize-controller", revision));
    await sink.flush(10_000);
    assert.equal(sink.delivered, 3);
    const found = await waitFor(async () => (await am.alerts()).filter((a) => a.labels.namespace === ns), { what: "the alert in Alertmanager", timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 1_000));
    const alerts = (await am.alerts()).filter((a) => a.labels.namespace === ns);
    assert.equal(alerts.length, 1, JSON.stringify(found));
    const [a] = alerts;
    assert.deepEqual(a!.labels, { alertname: "FluxKustomizationHealthCheckFailed", severity: "error", reason: "HealthCheckFailed", kind: "Kustomization", name: "apps", namespace: ns, revision: `main@sha1:${sha}`, env: "ci" });
    assert.equal(a!.annotations.message, "Deployment/apps/web failed to become ready");
    assert.equal(a!.status.state, "active");
  });

  test("the same event again within the rate-limit interval is answered 429; malformed events 400", async () => {
    const body = JSON.stringify(fluxEvent(kustomization("default", "dup"), "info", "Progressing", "once", "kustomize-controller"));
    const post = async (b: string) => (await fetch(env.eventsUrl, { method: "POST", body: b, headers: { "content-type": "application/json" } })).status;
    assert.equal(await post(body), 202);
    assert.equal(await post(body), 429);
    assert.equal(await post("{]"), 400);
  });

  test("a GitHub Receiver: Flux's webhook path, bad signatures refused with nothing triggered, a valid push annotates the GitRepository", async (t) => {
    const ns = await newNamespace(t);
    const token = "gh-webhook-token-4f2a";
    await createSecret(env.admin, ns, "webhook-token", { token });
    await env.admin.create(GitRepos, ns, gitRepo(ns, "fleet"));
    await env.admin.create(Receivers, ns, receiver(ns, "github", { type: "github", events: ["push"], resources: [{ kind: "GitRepository", name: "fleet" }], secretRef: { name: "webhook-token" } }));
    const path = receiverWebhookPath(token, "github", ns);
    const r = await waitFor(async () => {
      const o = await env.admin.get<Receiver>(Receivers, ns, "github");
      return o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? o : undefined;
    }, { what: "Receiver Ready" });
    assert.equal(r.status!.webhookPath, path);
    assert.equal(r.status!.conditions!.find((c) => c.type === "Ready")!.message, `Receiver initialized for path: ${path}`);
    await waitFor(() => env.controller.manager.informer<Receiver>(Receivers).get(`${ns}/github`)?.status?.webhookPath === path, { what: "the webhook path in the cache" });

    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const sign = (key: string) => `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;
    const call = async (headers: Record<string, string>) => (await fetch(`${env.receiverUrl}${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } })).status;
    assert.equal(await call({ "X-GitHub-Event": "push" }), 401);
    assert.equal(await call({ "X-GitHub-Event": "push", "X-Hub-Signature-256": sign("wrong-key") }), 401);
    assert.equal(await call({ "X-GitHub-Event": "issues", "X-Hub-Signature-256": sign(token) }), 400);
    assert.equal(await call({ "X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(token) }), 200);
    assert.equal((await env.admin.get<GitRepository>(GitRepos, ns, "fleet")).metadata.annotations?.[ReconcileRequestAnnotation], undefined, "nothing triggered");
    assert.equal((await fetch(`${env.receiverUrl}/hook/${"e".repeat(64)}`, { method: "POST", body })).status, 404);

    const before = Date.now();
    assert.equal(await call({ "X-GitHub-Event": "push", "X-Hub-Signature-256": sign(token) }), 200);
    const requested = (await env.admin.get<GitRepository>(GitRepos, ns, "fleet")).metadata.annotations?.[ReconcileRequestAnnotation];
    assert.ok(requested && Date.parse(requested) >= before - 1000, `requestedAt ${requested}`);

    const got = await run(flux, ["get", "receivers", "-n", ns], { env: kubeEnv() });
    assert.match(got.stdout, new RegExp(`github\\s+False\\s+True\\s+Receiver initialized for path: ${path}`));
    const reconciled = await run(flux, ["reconcile", "receiver", "github", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(reconciled.stdout + reconciled.stderr, /Receiver reconciliation completed/);
  });

  test("flux create receiver makes a Receiver that becomes Ready with Flux's webhook path", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "webhook-token", { token: "created-by-cli" });
    const created = await run(flux, ["create", "receiver", "cli", "-n", ns, "--type=github", "--event=ping", "--event=push", "--resource=GitRepository/fleet", "--secret-ref=webhook-token", "--timeout=60s"], { env: kubeEnv() });
    const path = receiverWebhookPath("created-by-cli", "cli", ns);
    assert.match(created.stdout + created.stderr, new RegExp(`generated webhook URL ${path}`));
    const r = await env.admin.get<Receiver>(Receivers, ns, "cli");
    assert.deepEqual(r.spec.events, ["ping", "push"]);
    assert.equal(r.status!.webhookPath, path);
  });

  test("a GitLab Receiver with name '*' and matchLabels annotates only the labelled objects", async (t) => {
    const ns = await newNamespace(t);
    const token = "gl-webhook-token-91c";
    await createSecret(env.admin, ns, "token", { token });
    await env.admin.create(GitRepos, ns, gitRepo(ns, "a", { team: "web" }));
    await env.admin.create(GitRepos, ns, gitRepo(ns, "b", { team: "web" }));
    await env.admin.create(GitRepos, ns, gitRepo(ns, "c", { team: "api" }));
    await env.admin.create(Receivers, ns, receiver(ns, "gitlab", { type: "gitlab", resources: [{ kind: "GitRepository", name: "*", matchLabels: { team: "web" } }], secretRef: { name: "token" } }));
    const path = receiverWebhookPath(token, "gitlab", ns);
    await waitFor(() => env.controller.manager.informer<Receiver>(Receivers).get(`${ns}/gitlab`)?.status?.webhookPath === path, { what: "the webhook path in the cache" });
    const call = async (headers: Record<string, string>) => (await fetch(`${env.receiverUrl}${path}`, { method: "POST", body: "{}", headers: { "X-Gitlab-Event": "Push Hook", ...headers } })).status;
    assert.equal(await call({ "X-Gitlab-Token": "nope" }), 401);
    assert.equal(await call({ "X-Gitlab-Token": token }), 200);
    const annotated = async (name: string) => (await env.admin.get<GitRepository>(GitRepos, ns, name)).metadata.annotations?.[ReconcileRequestAnnotation] !== undefined;
    assert.deepEqual([await annotated("a"), await annotated("b"), await annotated("c")], [true, true, false]);
  });

  test("a Receiver whose Secret is missing is not Ready (TokenNotFound); flux get alerts and alert-providers list the static objects", async (t) => {
    const ns = await newNamespace(t);
    await env.admin.create(Receivers, ns, receiver(ns, "orphan", { type: "generic", resources: [{ kind: "GitRepository", name: "x" }], secretRef: { name: "missing" } }));
    const r = await waitFor(async () => {
      const o = await env.admin.get<Receiver>(Receivers, ns, "orphan");
      return o.status?.conditions?.find((c) => c.type === "Ready" && c.status === "False");
    }, { what: "Receiver not Ready" });
    assert.equal(r.reason, "TokenNotFound");
    assert.match(r.message, /secret '.*\/missing': secret not found/);
    await env.admin.create(Providers, ns, provider(ns, "slack", { type: "slack", address: "http://127.0.0.1:9/" }));
    await env.admin.create(Alerts, ns, alert(ns, "all", { providerRef: { name: "slack" }, eventSources: [{ kind: "GitRepository", name: "*" }] }));
    const alerts = await run(flux, ["get", "alerts", "-n", ns], { env: kubeEnv() });
    assert.match(alerts.stdout, /all\s+False\s+True\s+Alert is Ready/);
    const providers = await run(flux, ["get", "alert-providers", "-n", ns], { env: kubeEnv() });
    assert.match(providers.stdout, /slack\s+True\s+Provider is Ready/);
  });

  test("provider addresses and tokens, and receiver tokens, never show in logs, events or status", async (t) => {
    const ns = await newNamespace(t);
    const failing = await loopback(500, "upstream broke");
    t.after(() => failing.close());
    const address = `${failing.url}/services/T0/B0/ADDRESS-SECRET-77`;
    await createSecret(env.admin, ns, "slack", { address, token: "xoxb-TOKEN-SECRET-88" });
    await env.admin.create(Providers, ns, provider(ns, "slack", { type: "slack", secretRef: { name: "slack" }, timeout: "2s" }));
    await env.admin.create(Alerts, ns, alert(ns, "all", { providerRef: { name: "slack" }, eventSources: [{ kind: "Kustomization", name: "*" }] }));
    await cached(Alerts, ns, "all");
    await cached(Providers, ns, "slack");
    const receiverToken = "RECEIVER-TOKEN-SECRET-99";
    await createSecret(env.admin, ns, "rt", { token: receiverToken });
    await env.admin.create(Receivers, ns, receiver(ns, "hmac", { type: "generic-hmac", resources: [{ kind: "GitRepository", name: "x" }], secretRef: { name: "rt" } }));
    const path = receiverWebhookPath(receiverToken, "hmac", ns);
    await waitFor(() => env.controller.manager.informer<Receiver>(Receivers).get(`${ns}/hmac`)?.status?.webhookPath === path, { what: "receiver ready" });
    assert.equal((await fetch(`${env.receiverUrl}${path}`, { method: "POST", body: "{}", headers: { "X-Signature": "sha256=00" } })).status, 401);

    const res = await fetch(env.eventsUrl, { method: "POST", body: JSON.stringify(fluxEvent(kustomization(ns, "apps"), "error", "BuildFailed", "kustomize build failed", "kustomize-controller")), headers: { "content-type": "application/json" } });
    assert.equal(res.status, 202);
    await waitFor(() => failing.requests.length >= 3 && env.logText().includes("failed to send notification"), { what: "three attempts, then the failure logged", timeoutMs: 30_000 });
    assert.equal(failing.requests[0]!.headers.authorization, "Bearer xoxb-TOKEN-SECRET-88", "the token was used");
    const events = JSON.stringify((await env.admin.list(Events, ns)).items);
    const status = JSON.stringify((await env.admin.list(Receivers, ns)).items.map((r) => (r as Receiver).status));
    for (const secret of ["ADDRESS-SECRET-77", "xoxb-TOKEN-SECRET-88", receiverToken]) {
      assert.ok(!env.logText().includes(secret), `${secret} in the logs`);
      assert.ok(!events.includes(secret), `${secret} in events`);
      assert.ok(!status.includes(secret), `${secret} in status`);
    }
    assert.match(env.logText(), /HTTP 500/);
  });
});
