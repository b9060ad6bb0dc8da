// The controller's error policy and lifecycle, driven through a Manager against the real apiserver: failures
// back off exponentially between the retry delays, a per-object retry interval wins when declared, stalled
// errors wait for a spec change, success requeues after the interval, shutdown lets in-flight reconciles
// finish and starts no new ones.
//
// Delays are measured from the moment a reconcile ended to the start of the next one, so the time the
// apiserver takes to answer does not count against the delay.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Manager, type ManagerOptions } from "../../../controllers/runtime/manager";
import type { Reconciler } from "../../../controllers/runtime/controller";
import { ReconcileError } from "../../../controllers/runtime/errors";
import { getCondition, markReady } from "../../../controllers/runtime/conditions";
import { newLogger } from "../../../controllers/runtime/log";
import { waitFor } from "../../harness/cluster";
import { runtimeTest, until, useTestKinds, type RuntimeTest, type TestObject } from "./env";

const kinds = useTestKinds("controller");
const { Widgets, WidgetKind } = kinds;

function manager(env: RuntimeTest, extra: Partial<ManagerOptions> = {}): Manager {
  return new Manager({ kubeConfig: env.kubeConfig, log: newLogger("silent"), component: "test-controller", namespace: env.ns, ...extra });
}

interface Run {
  name: string;
  start: number;
  end?: number;
}

/** A reconciler that records when each reconcile of an object started and ended, and does what `step` says. */
function recording(step: (obj: TestObject, calls: number) => Promise<{ requeueAfter?: number } | void>): Reconciler<TestObject> & { runs: Run[]; of(name: string): Run[]; waits(name: string): number[] } {
  const runs: Run[] = [];
  const of = (name: string) => runs.filter((r) => r.name === name);
  return {
    runs,
    of,
    /** Milliseconds between the end of each reconcile of name and the start of the next. */
    waits: (name) => of(name).slice(1).map((r, i) => r.start - of(name)[i]!.end!),
    reconcile: (s) => s.withFinalizer(async () => {
      const run: Run = { name: s.obj.metadata.name, start: Date.now() };
      runs.push(run);
      try {
        return await step(s.obj, of(run.name).length);
      } finally {
        run.end = Date.now();
      }
    }, async () => undefined),
  };
}

test("failures retry with exponential backoff from --min-retry-delay, capped at --max-retry-delay; status says why", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env, { minRetryDelayMs: 200, maxRetryDelayMs: 800 });
  const r = recording(async () => {
    throw new Error("the remote is down");
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).errorPolicy({ reason: "FetchFailedBadly" }).complete(r);
  void env.run(mgr);
  await env.create(Widgets, "flaky");
  await until("six attempts", () => r.of("flaky").length >= 6);
  const waits = r.waits("flaky");
  // 200, 400, 800, 800, 800 ms plus the failure's status write and scheduling; uncapped the last two would be
  // 1600 and 3200, and starting from twice the minimum the first would be 400.
  const expected = [200, 400, 800, 800, 800];
  assert.ok(waits.every((w, i) => w >= expected[i]! - 5 && w < expected[i]! + 300), `waits ${waits.join(", ")} ms, expected about ${expected.join(", ")}`);
  const stored = (await env.get(Widgets, "flaky"))!;
  assert.equal(getCondition(stored, "Ready")?.reason, "FetchFailedBadly");
  assert.equal(getCondition(stored, "Ready")?.message, "the remote is down");
});

test("a declared retry interval replaces the backoff", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env, { minRetryDelayMs: 10 });
  const r = recording(async () => {
    throw new Error("apply failed");
  });
  const backoffs: number[] = [];
  const retryAfter = (_obj: TestObject, backoffMs: number) => {
    backoffs.push(backoffMs);
    return 150;
  };
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).errorPolicy({ reason: "ReconciliationFailed", retryAfter }).complete(r);
  void env.run(mgr);
  await env.create(Widgets, "retrying");
  await until("three attempts", () => r.of("retrying").length >= 3);
  const waits = r.waits("retrying");
  assert.ok(waits.every((w) => w >= 145), `every retry after the declared 150 ms: ${waits.join(", ")}`);
  assert.deepEqual(backoffs.slice(0, 2), [10, 20], "the policy is given the exponential backoff it replaces");
});

test("a stalled error is not retried until the spec changes", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env, { minRetryDelayMs: 10 });
  const r = recording(async (obj) => {
    if (obj.metadata.name === "failing") throw new Error("transient");
    if (!obj.spec.fixed) throw new ReconcileError("InvalidSpec", "spec.url is not a URL", { stalled: true });
    markReady(obj, "Succeeded", "fixed");
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete(r);
  void env.run(mgr);
  await env.create(Widgets, "stalled");
  await until("the first attempt", () => r.of("stalled").length === 1);
  const stalled = await condition(env, "stalled", "Stalled");
  assert.equal(getCondition(stalled, "Stalled")?.status, "True");
  // In the time a failing (not stalled) object retries four times, from 10 ms, the stalled one is not retried.
  await env.create(Widgets, "failing");
  await until("four retries of a failing object", () => r.of("failing").length >= 5);
  assert.equal(r.of("stalled").length, 1, "no retry of a stalled object");
  await env.patchSpec(Widgets, "stalled", { fixed: true });
  await until("a reconcile after the spec change", () => r.of("stalled").length === 2);
  const ready = await condition(env, "stalled", "Ready");
  assert.equal(getCondition(ready, "Stalled"), undefined);
});

test("success requeues after requeueAfter, with jitter within --interval-jitter-percentage", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env, { intervalJitterPercentage: 50 });
  const r = recording(async (obj) => {
    markReady(obj, "Succeeded", "ok");
    return { requeueAfter: 200 };
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete(r);
  void env.run(mgr);
  await env.create(Widgets, "periodic");
  await until("four runs", () => r.of("periodic").length >= 4);
  const waits = r.waits("periodic");
  assert.ok(waits.every((w) => w >= 195 && w < 700), `each run 200–300 ms (plus the status write and scheduling) after the last: ${waits.join(", ")}`);
});

test("shutdown: the in-flight reconcile finishes, nothing new starts, run() resolves", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let finished = 0;
  const r = recording(async (obj) => {
    await gate;
    finished++;
    markReady(obj, "Succeeded", "ok");
  });
  mgr.controller<TestObject>(WidgetKind, { name: "widget", shutdownGracePeriodMs: 5_000 }).complete(r);
  const running = env.run(mgr);
  await env.create(Widgets, "busy");
  await until("the reconcile to start", () => r.runs.length === 1);
  env.stop.abort();
  await env.create(Widgets, "late");
  release();
  await running;
  assert.equal(finished, 1, "the in-flight reconcile ran to its end");
  assert.equal(r.runs.length, 1, "no reconcile started after shutdown began");
  assert.equal(getCondition((await env.get(Widgets, "busy"))!, "Ready")?.status, "True", "and its status was committed");
});

/** The stored object once its condition `type` is True. */
function condition(env: RuntimeTest, name: string, type: string): Promise<TestObject> {
  return waitFor(async () => {
    const stored = await env.get(Widgets, name);
    return stored && getCondition(stored, type)?.status === "True" ? stored : undefined;
  }, { what: `${type}=True on widget ${name}`, intervalMs: 20 });
}
