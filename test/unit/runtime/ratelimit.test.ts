// The kube client's client-side rate limit (--kube-api-qps / --kube-api-burst).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { TokenBucket } from "../../../controllers/runtime/ratelimit";

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
