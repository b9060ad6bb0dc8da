// Flux 2.7's reconcile record on the real cluster: status.history per revision, events with the revision as
// metadata and a "Reconciliation finished" event on every success, dependsOn[].readyExpr, and ConfigMaps
// labelled reconcile.fluxcd.io/watch: Enabled re-reconciling the Kustomizations that substitute from them.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { waitFor } from "../../harness/cluster";
import type { Kustomization } from "../../../controllers/api/kustomize";
import { ConfigMaps, Kustomizations, cond, configMap, createKustomization, logsFor, newFleet, requestReconcile, startKustomizeEnv, waitKs, type KustomizeEnv } from "./env";

type CM = { metadata: { labels?: Record<string, string> }; data: Record<string, string> };

interface AnnotatedEvent {
  reason: string;
  note: string;
  type: string;
  metadata: { annotations?: Record<string, string> };
  regarding: { kind: string; name: string };
}

const EventsRef = { kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Kustomization history, events, readyExpr and watched config", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("status.history keeps one entry per revision, most recent first; a repeat counts; events carry the revision", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const rev1 = await fleet.commit({ "app/cm.yaml": configMap("settings", { v: "1" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app" });
    await waitKs(env, ns, "app", "True", (k) => k.status?.lastAppliedRevision === rev1);
    const rev2 = await fleet.commit({ "app/cm.yaml": configMap("settings", { v: "2" }, ns) });
    const second = await waitKs(env, ns, "app", "True", (k) => k.status?.lastAppliedRevision === rev2 && k.status?.history?.length === 2);
    const [latest, first] = second.status!.history!;
    assert.equal(latest!.metadata!.revision, rev2);
    assert.equal(first!.metadata!.revision, rev1);
    for (const e of [latest!, first!]) {
      assert.match(e.digest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(e.lastReconciledStatus, "ReconciliationSucceeded");
      // A revision may be reconciled more than once before the next arrives (the source's event and the
      // Kustomization's own creation can both queue it): each reconcile counts.
      assert.ok(e.totalReconciliations >= 1, `totalReconciliations ${e.totalReconciliations}`);
      assert.match(e.lastReconciledDuration!, /^\d+(\.\d+)?m?s$/);
    }
    assert.notEqual(latest!.digest, first!.digest);

    // The same manifests again: the entry counts it, nothing new is added.
    const token = await requestReconcile(env.admin, ns, "app");
    const again = await waitKs(env, ns, "app", "True", (k) => k.status?.lastHandledReconcileAt === token);
    assert.equal(again.status!.history!.length, 2);
    assert.equal(again.status!.history![0]!.digest, latest!.digest);
    assert.ok(again.status!.history![0]!.totalReconciliations > latest!.totalReconciliations, "the repeat is counted in the same entry");

    // Events name the revision in their annotations; every success ends with a "Reconciliation finished" event.
    const events = await waitFor(async () => {
      const list = await env.admin.list<AnnotatedEvent>(EventsRef, ns);
      const mine = list.items.filter((e) => e.regarding.kind === "Kustomization" && e.regarding.name === "app");
      const finished = mine.filter((e) => e.reason === "ReconciliationSucceeded" && /^Reconciliation finished in \S+, next run in 10m0s$/.test(e.note));
      return finished.length >= 3 && mine;
    }, { what: "three 'Reconciliation finished' events", timeoutMs: 15_000 });
    const finished = events.filter((e) => /^Reconciliation finished/.test(e.note));
    assert.deepEqual(new Set(finished.map((e) => e.metadata.annotations?.["kustomize.toolkit.fluxcd.io/revision"])), new Set([rev1, rev2]));
    assert.ok(finished.every((e) => e.metadata.annotations?.["kustomize.toolkit.fluxcd.io/commit_status"] === "update"));
    const configured = events.find((e) => /ConfigMap\/.*\/settings configured/.test(e.note));
    assert.ok(configured, "the change set event");
    assert.equal(configured.metadata.annotations?.["kustomize.toolkit.fluxcd.io/revision"], rev2);
  });

  test("a failed health check is recorded in the history with its reason", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const rev = await fleet.commit({ "app/cm.yaml": configMap("state", { state: "broken" }, ns) });
    const healthCheckExprs = [{ apiVersion: "v1", kind: "ConfigMap", current: "data.state == 'ready'", failed: "data.state == 'broken'" }];
    await createKustomization(env, ns, "app", { path: "./app", wait: true, timeout: "1m", retryInterval: "1h", healthCheckExprs });
    const failed = await waitKs(env, ns, "app", "False", (k) => (k.status?.history?.length ?? 0) > 0);
    assert.equal(cond(failed, "Ready")!.reason, "HealthCheckFailed");
    assert.equal(failed.status!.history![0]!.lastReconciledStatus, "HealthCheckFailed");
    assert.equal(failed.status!.history![0]!.metadata!.revision, rev);
  });

  test("readyExpr holds a dependant back while it is false, and releases it once true", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "infra/cm.yaml": configMap("infra", { a: "1" }, ns), "app/cm.yaml": configMap("app", { a: "1" }, ns) });
    await createKustomization(env, ns, "infra", { path: "./infra" });
    const infra = await waitKs(env, ns, "infra", "True");
    assert.equal(cond(infra, "Ready")!.status, "True");
    const readyExpr = "has(dep.metadata.labels) && 'stage' in dep.metadata.labels && dep.metadata.labels['stage'] == self.metadata.labels['stage']";
    await env.admin.create<Kustomization>(Kustomizations, ns, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "app", namespace: ns, labels: { stage: "two" } },
      spec: { interval: "10m", prune: true, path: "./app", sourceRef: { kind: "GitRepository", name: "fleet" }, dependsOn: [{ name: "infra", readyExpr }] },
    });
    const held = await waitKs(env, ns, "app", "False");
    assert.equal(cond(held, "Ready")!.reason, "DependencyNotReady", logsFor(env, ns, "app"));
    assert.equal(cond(held, "Ready")!.message, `dependency '${ns}/infra' is not ready according to readyExpr eval`);

    await env.admin.patch(Kustomizations, ns, "infra", { metadata: { labels: { stage: "two" } } });
    const released = await waitKs(env, ns, "app", "True", undefined, 20_000);
    assert.equal(cond(released, "Ready")!.reason, "ReconciliationSucceeded");
  });

  test("a ConfigMap labelled reconcile.fluxcd.io/watch: Enabled re-reconciles the Kustomization that substitutes from it; an unlabelled one does not", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await env.admin.create(ConfigMaps, ns, { metadata: { name: "watched", labels: { "reconcile.fluxcd.io/watch": "Enabled" } }, data: { greeting: "hello" } });
    await env.admin.create(ConfigMaps, ns, { metadata: { name: "plain" }, data: { greeting: "hello" } });
    await fleet.commit({ "app/cm.yaml": configMap("greeting", { text: "${greeting}" }, ns), "other/cm.yaml": configMap("other", { text: "${greeting}" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app", interval: "1h", postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "watched" }] } });
    await createKustomization(env, ns, "other", { path: "./other", interval: "1h", postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "plain" }] } });
    await waitKs(env, ns, "app", "True");
    await waitKs(env, ns, "other", "True");
    assert.equal((await env.admin.get<CM>(ConfigMaps, ns, "greeting")).data.text, "hello");

    const changedAt = Date.now();
    await env.admin.patch(ConfigMaps, ns, "watched", { data: { greeting: "bye" } });
    await env.admin.patch(ConfigMaps, ns, "plain", { data: { greeting: "bye" } });
    await waitFor(async () => (await env.admin.get<CM>(ConfigMaps, ns, "greeting")).data.text === "bye", { what: "the substituted value follows the watched ConfigMap", timeoutMs: 10_000, intervalMs: 100 });
    t.diagnostic(`watched ConfigMap change applied in ${Date.now() - changedAt} ms`);
    await sleep(3_000);
    assert.equal((await env.admin.get<CM>(ConfigMaps, ns, "other")).data.text, "hello", "an unlabelled ConfigMap waits for the interval");
  });
});
