// The one wait util (controllers/api/wait.ts) and the kube client's token bucket.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { backoffDelay, poll, sleep } from "../../../controllers/api/wait";
import { TokenBucket } from "../../../controllers/runtime/ratelimit";

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

test("token bucket: a burst goes at once, then requests are spaced at 1/qps", async () => {
  let now = 0;
  const bucket = new TokenBucket(10, 3, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(bucket.delay(), 0, `burst request ${i}`);
    await bucket.take();
  }
  assert.equal(Math.round(bucket.delay()), 100, "the fourth waits 1/qps");
  now += 100;
  assert.equal(bucket.delay(), 0);
  assert.throws(() => new TokenBucket(0, 1), /QPS must be a positive number/);
  assert.throws(() => new TokenBucket(5, 0), /burst must be at least 1/);
});

test("token bucket: waiters are served in order at the rate", async () => {
  const bucket = new TokenBucket(50, 1);
  const started = Date.now();
  const done: number[] = [];
  await Promise.all([0, 1, 2, 3].map((i) => bucket.take().then(() => done.push(i))));
  assert.deepEqual(done, [0, 1, 2, 3]);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 55 && elapsed < 400, `3 waits of 20 ms: ${elapsed} ms`);
});
