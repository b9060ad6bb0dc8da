// What a reconcile writes to the Kustomization: a reconcile that outlasts progressStatusDelayMs shows
// Reconciling/Progressing while it runs; a shorter one writes its final status once.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { progressStatusDelayMs } from "../../../controllers/kustomize/reconciler";
import type { Kustomization } from "../../../controllers/api";
import { Kustomizations, cond, configMap, createKustomization, logsFor, newFleet, startKustomizeEnv, stuckClaim, waitKs, type KustomizeEnv } from "./env";

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
    assert.match(cond(progressing, "Ready")!.message, /^Fetching manifests for revision main@sha1:[0-9a-f]{40} with a timeout of 5s$/);
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
});
