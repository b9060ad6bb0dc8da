// What a reconcile writes to the Kustomization: a reconcile that outlasts progressStatusDelayMs shows
// Reconciling/Progressing while it runs; a shorter one writes its final status once. A new source revision
// ends a running health check, and the new revision is applied at once (unless turned off).
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { progressStatusDelayMs } from "../../../controllers/kustomize/reconciler";
import type { Kustomization } from "../../../controllers/api";
import { ConfigMaps, Kustomizations, cond, configMap, createKustomization, getOrUndefined, logsFor, newFleet, startKustomizeEnv, stuckClaim, waitKs, type Fleet, type KustomizeEnv } from "./env";

const Claims = { kind: "PersistentVolumeClaim", group: "", version: "v1", plural: "persistentvolumeclaims", namespaced: true };

/** A Kustomization "slow" whose health check cannot pass (a claim that never binds), waited for until it runs. */
async function slowHealthCheck(env: KustomizeEnv, fleet: Fleet, timeout: string): Promise<void> {
  const ns = fleet.ns;
  await fleet.commit({ "slow/pvc.yaml": stuckClaim(ns) });
  await createKustomization(env, ns, "slow", { path: "./slow", wait: true, timeout, retryInterval: "1h", interval: "1h" });
  const deadline = Date.now() + 30_000;
  while (!env.logs.some((l) => l.namespace === ns && l.name === "slow" && l.msg === "server-side apply completed")) {
    if (Date.now() > deadline) throw new Error(`slow was not applied:\n${logsFor(env, ns, "slow")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The claim is applied; the health check now waits on it.
  await new Promise((r) => setTimeout(r, 300));
}

describe("Kustomization status writes", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("a reconcile that outlasts the delay shows Reconciling (Progressing) while it runs, then its result", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "slow/pvc.yaml": stuckClaim(ns) });
    await createKustomization(env, ns, "slow", { path: "./slow", wait: true, timeout: "5s", retryInterval: "1h" });
    let progressing: Kustomization | undefined;
    const deadline = Date.now() + 30_000;
    while (!progressing && Date.now() < deadline) {
      const k = await env.admin.get<Kustomization>(Kustomizations, ns, "slow");
      if (cond(k, "Reconciling")?.status === "True" && cond(k, "Reconciling")?.reason === "Progressing") progressing = k;
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(progressing, "Reconciling=True/Progressing was stored while the health check ran");
    assert.equal(cond(progressing, "Ready")!.status, "Unknown");
    // A timeout under 30 s is raised to Flux's minimum.
    assert.match(cond(progressing, "Ready")!.message, /^Fetching manifests for revision main@sha1:[0-9a-f]{40} with a timeout of 30s$/);
    const done = await waitKs(env, ns, "slow", "False");
    assert.equal(cond(done, "Ready")!.reason, "HealthCheckFailed");
    assert.equal(cond(done, "Reconciling")!.reason, "ProgressingWithRetry");
  });

  test("a reconcile that finishes within the delay writes its status once, straight to Ready", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "fast/cm.yaml": configMap("fast", { a: "1" }, ns) });
    await createKustomization(env, ns, "fast", { path: "./fast" });
    await waitKs(env, ns, "fast", "True");
    const lines = env.logs.filter((l) => l.namespace === ns && l.name === "fast");
    const writes = lines.filter((l) => l.msg === "status written").map((l) => l.ready);
    const finished = lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("Reconciliation finished"));
    assert.ok(finished, logsFor(env, ns, "fast"));
    if ((finished.ms as number) < progressStatusDelayMs) {
      assert.deepEqual(writes, ["ReconciliationSucceeded"], logsFor(env, ns, "fast"));
    } else {
      // A slow machine: the reconcile outlasted the delay, so its progress was shown first.
      t.diagnostic(`reconcile took ${String(finished.ms)} ms; Progressing was written first`);
      assert.deepEqual(writes, ["Progressing", "ReconciliationSucceeded"], logsFor(env, ns, "fast"));
    }
  });

  test("a new source revision ends a running health check; the new revision is applied at once", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await slowHealthCheck(env, fleet, "5m");
    const rev = await fleet.commit({ "slow/pvc.yaml": null, "slow/cm.yaml": configMap("after", { a: "1" }, ns) });
    // Without the cancel, this revision would wait for the first health check's 5 minutes.
    const done = await waitKs(env, ns, "slow", "True", (k) => k.status?.lastAppliedRevision === rev, 60_000);
    assert.equal(cond(done, "Healthy")!.status, "True");
    const canceled = env.logs.find((l) => l.namespace === ns && l.name === "slow" && l.msg === `Health check canceled: new revision '${rev}' is available`);
    assert.ok(canceled, logsFor(env, ns, "slow"));
    assert.notEqual(canceled.revision, rev, "the canceled check was the previous revision's");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "after"), "the new revision's object is applied");
    assert.equal(await getOrUndefined(env.admin, Claims, ns, "data"), undefined, "the old revision's claim is pruned");
  });

  test("drift of an applied object ends a running health check and is reverted at once", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "slow/cm.yaml": configMap("kept", { a: "1" }, ns) });
    await slowHealthCheck(env, fleet, "5m");
    await env.admin.patch(ConfigMaps, ns, "kept", { data: { a: "changed by hand" } });
    // Without the cancel, the revert would wait for the health check's 5 minutes.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const cm = await env.admin.get<{ data?: Record<string, string> }>(ConfigMaps, ns, "kept");
      if (cm.data?.a === "1") break;
      if (Date.now() > deadline) assert.fail(`ConfigMap not reverted while the health check ran:\n${logsFor(env, ns, "slow")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(env.logs.some((l) => l.namespace === ns && l.name === "slow" && l.msg === `Health check canceled: drift detected on ConfigMap/${ns}/kept`), logsFor(env, ns, "slow"));
  });
});

describe("Kustomization health checks with --cancel-health-check-on-new-revision=false", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv({ cancelHealthCheckOnNewRevision: false });
  });
  after(async () => {
    await env?.stop();
  });

  test("a new source revision waits for the running health check to end", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await slowHealthCheck(env, fleet, "6s");
    const rev = await fleet.commit({ "slow/pvc.yaml": null, "slow/cm.yaml": configMap("after", { a: "1" }, ns) });
    await waitKs(env, ns, "slow", "True", (k) => k.status?.lastAppliedRevision === rev, 60_000);
    const lines = env.logs.filter((l) => l.namespace === ns && l.name === "slow");
    assert.ok(!lines.some((l) => typeof l.msg === "string" && l.msg.startsWith("Health check canceled")), logsFor(env, ns, "slow"));
    const failed = lines.findIndex((l) => l.reason === "HealthCheckFailed");
    const applied = lines.findIndex((l) => l.msg === "server-side apply completed" && l.revision === rev);
    assert.ok(failed >= 0 && applied > failed, `the first health check timed out before the new revision was applied:\n${logsFor(env, ns, "slow")}`);
  });
});
