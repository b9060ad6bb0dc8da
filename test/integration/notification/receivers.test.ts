// Receivers on the real apiserver, the notification-controller running as its ServiceAccount: a gcr Receiver
// (Google's certs endpoint played by a loopback server) triggers only on a Google-signed ID token for its
// Secret's audience and email; a cdevents Receiver triggers on the CDEvent types in spec.events; a
// resourceFilter (stacked with an entry's own filter) annotates only the resources it accepts, and an invalid one
// leaves the Receiver not Ready.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { receiverWebhookPath, type Receiver } from "../../../controllers/api/notification";
import { GitRepositoryKind, type GitRepository } from "../../../controllers/api/source";
import { ImageRepositoryKind } from "../../../controllers/api/image";
import { ReconcileRequestAnnotation } from "../../../controllers/api/meta";
import { newNamespace, waitFor } from "../../harness/cluster";
import { Receivers, createSecret, startNotificationEnv, type NotificationEnv } from "./env";
import { googleStandIn, type GoogleStandIn } from "../../unit/notification/google";

const GitRepos = GitRepositoryKind.resource;
const ImageRepos = ImageRepositoryKind.resource;
const receiver = (ns: string, name: string, spec: Receiver["spec"]): Receiver => ({ apiVersion: "notification.toolkit.fluxcd.io/v1", kind: "Receiver", metadata: { name, namespace: ns }, spec });
const gitRepo = (ns: string, name: string, labels?: Record<string, string>): GitRepository => ({
  apiVersion: GitRepositoryKind.apiVersion,
  kind: "GitRepository",
  metadata: { name, namespace: ns, labels },
  spec: { url: "https://example.invalid/fleet.git", interval: "10m" },
});
const imageRepo = (ns: string, name: string, labels?: Record<string, string>) => ({
  apiVersion: ImageRepositoryKind.apiVersion,
  kind: "ImageRepository",
  metadata: { name, namespace: ns, labels },
  spec: { image: `us-east1-docker.pkg.dev/acme/apps/${name}`, interval: "10m" },
});

describe("notification-controller receivers", () => {
  let env: NotificationEnv;
  let google: GoogleStandIn;

  before(async () => {
    google = await googleStandIn();
    env = await startNotificationEnv({ googleCertsUrl: google.certsUrl });
  });
  after(async () => {
    await env?.stop();
    await google?.close();
  });

  const ready = (ns: string, name: string, token: string) => {
    const path = receiverWebhookPath(token, name, ns);
    return waitFor(() => env.controller.manager.informer<Receiver>(Receivers).get(`${ns}/${name}`)?.status?.webhookPath === path, { what: `Receiver ${name} ready in the cache` }).then(() => path);
  };
  const requestedAt = async (ref: typeof GitRepos, ns: string, name: string) => (await env.admin.get<GitRepository>(ref, ns, name)).metadata.annotations?.[ReconcileRequestAnnotation];

  test("gcr: only a Google-signed ID token for the Secret's audience and email annotates the ImageRepository", async (t) => {
    const ns = await newNamespace(t);
    const token = "gcr-token-5d1";
    const email = "gar-push@acme.iam.gserviceaccount.com";
    const audience = `https://flux.example.com${receiverWebhookPath(token, "gar", ns)}`;
    await createSecret(env.admin, ns, "gar", { token, email, audience });
    await env.admin.create(ImageRepos, ns, imageRepo(ns, "web"));
    await env.admin.create(Receivers, ns, receiver(ns, "gar", { type: "gcr", resources: [{ apiVersion: "image.toolkit.fluxcd.io/v1", kind: "ImageRepository", name: "web" }], secretRef: { name: "gar" } }));
    const path = await ready(ns, "gar", token);
    const body = JSON.stringify({ message: { data: Buffer.from(JSON.stringify({ action: "INSERT", tag: "us-east1-docker.pkg.dev/acme/apps/web:1.2" })).toString("base64"), messageId: "9" }, subscription: "projects/acme/subscriptions/flux" });
    const call = async (authorization?: string) => (await fetch(`${env.receiverUrl}${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) } })).status;
    assert.equal(await call(), 401);
    assert.equal(await call(`Bearer ${google.idToken({ aud: audience, email: "intruder@evil.iam.gserviceaccount.com" })}`), 401);
    assert.equal(await call(`Bearer ${google.idToken({ aud: "https://elsewhere.example.com", email })}`), 401);
    assert.equal(await requestedAt(ImageRepos, ns, "web"), undefined, "nothing triggered");
    assert.equal(await call(`Bearer ${google.idToken({ aud: audience, email })}`), 200);
    assert.ok(await requestedAt(ImageRepos, ns, "web"), "the ImageRepository was asked to reconcile");
  });

  test("cdevents: a CDEvent of a type in spec.events annotates; other types do not", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "cd", { token: "cd-token-77" });
    await env.admin.create(GitRepos, ns, gitRepo(ns, "fleet"));
    await env.admin.create(Receivers, ns, receiver(ns, "cd", { type: "cdevents", events: ["dev.cdevents.change.merged"], resources: [{ kind: "GitRepository", name: "fleet" }], secretRef: { name: "cd" } }));
    const path = await ready(ns, "cd", "cd-token-77");
    const send = async (type: string) => {
      const doc = { context: { specversion: "0.4.1", id: "e1", source: "/git", type, timestamp: "2026-01-01T00:00:00Z" }, subject: { id: "fleet/pull/1", content: {} } };
      return (await fetch(`${env.receiverUrl}${path}`, { method: "POST", body: JSON.stringify(doc), headers: { "content-type": "application/json", "ce-specversion": "1.0", "ce-id": "e1", "ce-source": "/git", "ce-type": type } })).status;
    };
    assert.equal(await send("dev.cdevents.change.created.0.2.0"), 400);
    assert.equal(await requestedAt(GitRepos, ns, "fleet"), undefined);
    assert.equal(await send("dev.cdevents.change.merged.0.2.0"), 200);
    assert.ok(await requestedAt(GitRepos, ns, "fleet"));
  });

  test("resourceFilter and per-resource filters: only the resources they accept are annotated; an invalid expression leaves the Receiver not Ready", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "tok", { token: "filter-token-3" });
    for (const name of ["hello-world", "podinfo"]) await env.admin.create(GitRepos, ns, gitRepo(ns, name, { registry: "gar" }));
    await env.admin.create(GitRepos, ns, gitRepo(ns, "fleet"));
    await env.admin.create(Receivers, ns, receiver(ns, "filtered", {
      type: "generic",
      resources: [{ kind: "GitRepository", name: "*", matchLabels: { registry: "gar" } }, { kind: "GitRepository", name: "fleet" }],
      resourceFilter: "req.tag.contains(res.metadata.name) || res.metadata.name == 'fleet'",
      secretRef: { name: "tok" },
    }));
    const path = await ready(ns, "filtered", "filter-token-3");
    const status = (await fetch(`${env.receiverUrl}${path}`, { method: "POST", body: JSON.stringify({ action: "INSERT", tag: "us-east1-docker.pkg.dev/p/r/hello-world:1.1" }), headers: { "content-type": "application/json" } })).status;
    assert.equal(status, 200);
    assert.deepEqual([!!(await requestedAt(GitRepos, ns, "hello-world")), !!(await requestedAt(GitRepos, ns, "podinfo")), !!(await requestedAt(GitRepos, ns, "fleet"))], [true, false, true]);

    // A resource entry's own filter stacks with resourceFilter: both must accept.
    for (const name of ["hello-world-eu", "hello-world-us"]) await env.admin.create(GitRepos, ns, gitRepo(ns, name, { region: name.slice(-2) }));
    await env.admin.create(Receivers, ns, receiver(ns, "stacked", {
      type: "generic",
      resources: [{ kind: "GitRepository", name: "hello-world-*", filter: "res.metadata.labels['region'] == 'eu'" }],
      resourceFilter: "req.tag.contains('hello-world')",
      secretRef: { name: "tok" },
    }));
    const stacked = await ready(ns, "stacked", "filter-token-3");
    const post = async (tag: string) => (await fetch(`${env.receiverUrl}${stacked}`, { method: "POST", body: JSON.stringify({ tag }), headers: { "content-type": "application/json" } })).status;
    assert.equal(await post("registry/podinfo:1"), 200);
    assert.deepEqual([!!(await requestedAt(GitRepos, ns, "hello-world-eu")), !!(await requestedAt(GitRepos, ns, "hello-world-us"))], [false, false], "resourceFilter refused both");
    assert.equal(await post("registry/hello-world:2"), 200);
    assert.deepEqual([!!(await requestedAt(GitRepos, ns, "hello-world-eu")), !!(await requestedAt(GitRepos, ns, "hello-world-us"))], [true, false], "the entry's filter refused us");

    await env.admin.create(Receivers, ns, receiver(ns, "bad-entry", { type: "generic", resources: [{ kind: "GitRepository", name: "fleet", filter: "size(res.metadata.name)" }], secretRef: { name: "tok" } }));
    const entryCond = await waitFor(async () => (await env.admin.get<Receiver>(Receivers, ns, "bad-entry")).status?.conditions?.find((c) => c.type === "Ready" && c.status === "False"), { what: "Receiver bad-entry not Ready" });
    assert.equal(entryCond.reason, "InvalidCELExpression");
    assert.match(entryCond.message, /^invalid filter expression for resources\[0\] \(kind=GitRepository, name=fleet\): the CEL expression 'size\(res.metadata.name\)' must give a bool, it gives int/);

    await env.admin.create(Receivers, ns, receiver(ns, "broken", { type: "generic", resources: [{ kind: "GitRepository", name: "fleet" }], resourceFilter: "req.tag.contains(", secretRef: { name: "tok" } }));
    const cond = await waitFor(async () => (await env.admin.get<Receiver>(Receivers, ns, "broken")).status?.conditions?.find((c) => c.type === "Ready" && c.status === "False"), { what: "Receiver broken not Ready" });
    assert.equal(cond.reason, "InvalidCELExpression");
    assert.match(cond.message, /^invalid resourceFilter expression: failed to parse the CEL expression 'req.tag.contains\('/);
  });
});
