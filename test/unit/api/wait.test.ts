// The one wait util (controllers/api/wait.ts): backoff delays, polling to a deadline, abortable sleep.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { backoffDelay, poll, sleep, untilIdle } from "../../../controllers/api/wait";

test("backoffDelay: base · factor^(attempt−1), capped; equal jitter stays within [d/2, d]", () => {
  const p = { baseMs: 100, maxMs: 1_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, p)), [100, 200, 400, 800, 1_000, 1_000]);
  assert.equal(backoffDelay(3, { ...p, factor: 3 }), 900);
  assert.equal(backoffDelay(3, { ...p, jitter: "equal" }, () => 0), 200);
  assert.equal(backoffDelay(3, { ...p, jitter: "equal" }, () => 1), 400);
});

test("poll: resolves with the first truthy answer, throws the caller's error at the deadline", async () => {
  let n = 0;
  assert.equal(await poll(() => (++n === 3 ? "ready" : undefined), { intervalMs: 5, timeoutMs: 1_000, timeoutError: () => new Error("never") }), "ready");
  assert.equal(n, 3);
  const started = Date.now();
  await assert.rejects(poll(() => false, { intervalMs: 10, timeoutMs: 50, timeoutError: () => new Error("CRD x not Established in time") }), /CRD x not Established in time/);
  assert.ok(Date.now() - started < 500);
});

test("poll and sleep end early when the signal aborts", async () => {
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(new Error("shutting down")), 20);
  await assert.rejects(poll(() => false, { intervalMs: 10_000, signal: ctl.signal, timeoutError: () => new Error("timeout") }), /shutting down/);
  const started = Date.now();
  const ctl2 = new AbortController();
  setTimeout(() => ctl2.abort(), 20);
  await sleep(10_000, ctl2.signal);
  assert.ok(Date.now() - started < 1_000);
});

test("untilIdle: resolves when the sender reports idle, else runs onTimeout and resolves at the timeout", async () => {
  const idle: (() => void)[] = [];
  let timedOut = 0;
  const drained = untilIdle(idle, 5_000, () => timedOut++);
  assert.equal(idle.length, 1);
  for (const done of idle.splice(0)) done();
  await drained;
  assert.equal(timedOut, 0);

  const started = Date.now();
  await untilIdle(idle, 30, () => timedOut++);
  assert.equal(timedOut, 1);
  assert.ok(Date.now() - started >= 25);
});
