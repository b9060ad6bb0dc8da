import { test } from "node:test";
import * as assert from "node:assert/strict";
import { retryThrottled } from "../../../provider/impl/kube";

const throttled = (code: number, retryAfter?: string) => Object.assign(new Error(`HTTP-Code: ${code}`), { code, headers: retryAfter ? { "retry-after": retryAfter } : {} });

test("429 and 503 are retried after Retry-After (default 1 s, at most 5 s) until the request succeeds", async () => {
  const waits: number[] = [];
  let calls = 0;
  const answers = [throttled(429, "1"), throttled(503), throttled(429, "60")];
  const result = await retryThrottled(
    async () => {
      const err = answers[calls++];
      if (err) throw err;
      return "listed";
    },
    30_000,
    async (ms) => {
      waits.push(ms);
    },
  );
  assert.equal(result, "listed");
  assert.deepEqual(waits, [1000, 1000, 5000]);
});

test("other errors are not retried; a throttle past the budget is thrown", async () => {
  let calls = 0;
  await assert.rejects(retryThrottled(async () => {
    calls++;
    throw Object.assign(new Error("conflict"), { code: 409 });
  }), /conflict/);
  assert.equal(calls, 1);
  await assert.rejects(retryThrottled(async () => Promise.reject(throttled(429, "5")), 1000, async () => undefined), /HTTP-Code: 429/);
});
