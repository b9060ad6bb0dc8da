// The controller's error policy and lifecycle, driven through a Manager against the loopback apiserver:
// failures back off exponentially between the retry delays, a per-object retry interval wins when declared,
// stalled errors wait for a spec change, success requeues after the interval, shutdown lets in-flight
// reconciles finish and starts no new ones.
import { afterEach, beforeEach, test } from "node:test";
import * as assert from "node:assert/strict";
import { Manager, type ManagerOptions } from "../../../controllers/runtime/manager";
import type { Reconciler } from "../../../controllers/runtime/controller";
import { ReconcileError } from "../../../controllers/runtime/errors";
import { getCondition, markReady } from "../../../controllers/runtime/conditions";
import { newLogger } from "../../../controllers/runtime/log";
import { TestApiServer, WidgetKind, until, type TestObject } from "./apiserver";

let api: TestApiServer;
let stop: AbortController;
beforeEach(async () => {
  api = await TestApiServer.start();
  stop = new AbortController();
});
afterEach(async () => {
  stop.abort();
  await api.close();
});

function manager(extra: Partial<ManagerOptions> = {}): Manager {
  return new Manager({ kubeConfig: api.kubeConfig(), log: newLogger("silent"), component: "test-controller", ...extra });
}

/** A reconciler that records when it ran and does what `step` says. */
function recording(step: (obj: TestObject, calls: number) => Promise<{ requeueAfter?: number } | void>): Reconciler<TestObject> & { times: number[] } {
  const times: number[] = [];
  return {
    times,
    reconcile: (s) => s.withFinalizer(() => {
      times.push(Date.now());
      return step(s.obj, times.length);
    }, async () => undefined),
  };
}

const widget = (name: string, spec: TestObject["spec"] = {}) => api.put("widgets", { metadata: { name, namespace: "ns" }, spec });

test("failures retry with exponential backoff from --min-retry-delay, capped at --max-retry-delay; status says why", async () => {
  const mgr = manager({ minRetryDelayMs: 100, maxRetryDelayMs: 400 });
  const r = recording(async () => {
    throw new Error("the remote is down");
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).errorPolicy({ reason: "FetchFailedBadly" }).complete(r);
  void mgr.run(stop.signal);
  widget("flaky");
  await until("six attempts", () => r.times.length >= 6);
  const gaps = r.times.slice(1).map((t, i) => t - r.times[i]!);
  // 100, 200, 400, 400, 400 ms plus scheduling; uncapped the last two would be 800 and 1600.
  assert.ok(gaps[0]! >= 95 && gaps[0]! < 200, `first retry after ~100 ms: ${gaps.join(", ")}`);
  assert.ok(gaps[1]! >= 195 && gaps[1]! < 400, `then ~200 ms: ${gaps.join(", ")}`);
  assert.ok(gaps.slice(2).every((g) => g >= 395 && g < 750), `then capped at ~400 ms: ${gaps.join(", ")}`);
  const stored = api.get("widgets", "ns", "flaky")!;
  assert.equal(getCondition(stored, "Ready")?.reason, "FetchFailedBadly");
  assert.equal(getCondition(stored, "Ready")?.message, "the remote is down");
});

test("a declared retry interval replaces the backoff", async () => {
  const mgr = manager({ minRetryDelayMs: 10 });
  const r = recording(async () => {
    throw new Error("apply failed");
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).errorPolicy({ reason: "ReconciliationFailed", retryAfter: () => 150 }).complete(r);
  void mgr.run(stop.signal);
  widget("retrying");
  await until("three attempts", () => r.times.length >= 3);
  const gaps = r.times.slice(1).map((t, i) => t - r.times[i]!);
  assert.ok(gaps.every((g) => g >= 145), `every retry after the declared 150 ms: ${gaps.join(", ")}`);
});

test("a stalled error is not retried until the spec changes", async () => {
  const mgr = manager({ minRetryDelayMs: 10 });
  const r = recording(async (obj) => {
    if (!obj.spec.fixed) throw new ReconcileError("InvalidSpec", "spec.url is not a URL", { stalled: true });
    markReady(obj, "Succeeded", "fixed");
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete(r);
  void mgr.run(stop.signal);
  const w = widget("stalled");
  await until("the first attempt", () => r.times.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(r.times.length, 1, "no retry of a stalled object");
  assert.equal(getCondition(api.get("widgets", "ns", "stalled")!, "Stalled")?.status, "True");
  api.put("widgets", { ...w, metadata: api.get("widgets", "ns", "stalled")!.metadata, spec: { fixed: true } });
  await until("a reconcile after the spec change", () => r.times.length === 2);
  await until("Ready", () => getCondition(api.get("widgets", "ns", "stalled")!, "Ready")?.status === "True");
  assert.equal(getCondition(api.get("widgets", "ns", "stalled")!, "Stalled"), undefined);
});

test("success requeues after requeueAfter, with jitter within --interval-jitter-percentage", async () => {
  const mgr = manager({ intervalJitterPercentage: 50 });
  const r = recording(async (obj) => {
    markReady(obj, "Succeeded", "ok");
    return { requeueAfter: 200 };
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete(r);
  void mgr.run(stop.signal);
  widget("periodic");
  await until("four runs", () => r.times.length >= 4);
  const gaps = r.times.slice(1).map((t, i) => t - r.times[i]!);
  assert.ok(gaps.every((g) => g >= 195 && g < 700), `each run 200–300 ms (plus scheduling) after the last: ${gaps.join(", ")}`);
});

test("shutdown: the in-flight reconcile finishes, nothing new starts, run() resolves", async () => {
  const mgr = manager();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let finished = 0;
  const r = recording(async (obj) => {
    await gate;
    finished++;
    markReady(obj, "Succeeded", "ok");
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget", shutdownGracePeriodMs: 5_000 }).complete(r);
  const running = mgr.run(stop.signal);
  widget("busy");
  await until("the reconcile to start", () => r.times.length === 1);
  stop.abort();
  widget("late");
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  await running;
  assert.equal(finished, 1, "the in-flight reconcile ran to its end");
  assert.equal(r.times.length, 1, "no reconcile started after shutdown began");
  assert.equal(getCondition(api.get("widgets", "ns", "busy")!, "Ready")?.status, "True", "and its status was committed");
});
