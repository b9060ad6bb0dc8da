// A Provider's commitStatusExpr on the real apiserver: the notification-controller, as its ServiceAccount, sets
// the GitHub commit status (a loopback server answering as GitHub's API) with the id the CEL expression makes of
// the event, the Alert and the Provider; an invalid expression sends nothing and says why in the log.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { HttpEventSink, fluxEvent } from "../../../controllers/runtime/fluxevents";
import { newLogger } from "../../../controllers/runtime/log";
import type { Alert, Provider } from "../../../controllers/api/notification";
import { newNamespace, waitFor } from "../../harness/cluster";
import { Alerts, Providers, createSecret, startNotificationEnv, type NotificationEnv } from "./env";
import { loopback } from "../../unit/notification/loopback";

const sha = "0123456789abcdef0123456789abcdef01234567";
const provider = (ns: string, name: string, spec: Provider["spec"]): Provider => ({ apiVersion: "notification.toolkit.fluxcd.io/v1beta3", kind: "Provider", metadata: { name, namespace: ns }, spec });
const alert = (ns: string, name: string, spec: Alert["spec"]): Alert => ({ apiVersion: "notification.toolkit.fluxcd.io/v1beta3", kind: "Alert", metadata: { name, namespace: ns }, spec });

describe("notification-controller commitStatusExpr", () => {
  let env: NotificationEnv;
  before(async () => {
    env = await startNotificationEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("the commit status id comes from the Provider's CEL expression over event, alert and provider", async (t) => {
    const ns = await newNamespace(t);
    const github = await loopback(201);
    t.after(() => github.close());
    await createSecret(env.admin, ns, "gh", { token: "ghp-expr-token" });
    const expr = "(event.involvedObject.kind + '/' + event.involvedObject.name + '/' + event.metadata.env + '/' + alert.metadata.name + '/' + provider.metadata.uid.split('-').first().value()).lowerAscii()";
    await env.admin.create(Providers, ns, provider(ns, "gh", { type: "github", address: `${github.url}/acme/fleet`, secretRef: { name: "gh" }, commitStatusExpr: expr }));
    await env.admin.create(Providers, ns, provider(ns, "bad", { type: "github", address: `${github.url}/acme/fleet`, secretRef: { name: "gh" }, commitStatusExpr: "event.involvedObject.kind ==" }));
    await env.admin.create(Alerts, ns, alert(ns, "status", { providerRef: { name: "gh" }, eventSources: [{ kind: "Kustomization", name: "apps" }], eventMetadata: { env: "Prod" } }));
    await env.admin.create(Alerts, ns, alert(ns, "broken", { providerRef: { name: "bad" }, eventSources: [{ kind: "Kustomization", name: "apps" }] }));
    const uid = (await env.admin.get<Provider>(Providers, ns, "gh")).metadata.uid!;
    for (const [ref, name] of [[Providers, "gh"], [Providers, "bad"], [Alerts, "status"], [Alerts, "broken"]] as const) {
      await waitFor(() => env.controller.manager.informer(ref).get(`${ns}/${name}`), { what: `${name} in the cache` });
    }
    const sink = new HttpEventSink(env.eventsUrl, { log: newLogger("silent") });
    sink.post(fluxEvent({ apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "apps", namespace: ns, uid: "u" } }, "info", "ReconciliationSucceeded", "Applied revision", "kustomize-controller", { "kustomize.toolkit.fluxcd.io/revision": `main@sha1:${sha}` }));
    await sink.flush(10_000);
    await waitFor(() => github.requests.length >= 1 && env.logText().includes("invalid commitStatusExpr"), { what: "the status set and the invalid expression logged", timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(github.requests.length, 1, "the Provider with the invalid expression sent nothing");
    const [r] = github.requests;
    assert.equal(r!.path, `/api/v3/repos/acme/fleet/statuses/${sha}`);
    assert.deepEqual(r!.json, { state: "success", context: `kustomization/apps/prod/status/${uid.split("-")[0]}`, description: "reconciliation succeeded" });
    assert.match(env.logText(), /invalid commitStatusExpr: failed to parse the CEL expression 'event.involvedObject.kind =='/);
  });
});
