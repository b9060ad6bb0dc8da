import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Backoff, WorkQueue, withJitter, type Clock } from "../../../controllers/runtime/queue";

/** A manual clock: timers fire only when advance() passes their deadline. */
function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t = { at: now + ms, fn, cancelled: false };
      timers.push(t);
      return { cancel: () => void (t.cancelled = true) };
    },
    advance(ms) {
      now += ms;
      for (const t of timers.splice(0)) {
        if (t.cancelled) continue;
        if (t.at <= now) t.fn();
        else timers.push(t);
      }
    },
  };
}

test("duplicate adds of a waiting key collapse into one item", async () => {
  const q = new WorkQueue(fakeClock());
  q.add("a");
  q.add("a");
  q.add("b");
  assert.equal(q.length, 2);
  assert.equal(await q.get(), "a");
  assert.equal(await q.get(), "b");
});

test("a key being processed is not handed out again until done, then once", async () => {
  const q = new WorkQueue(fakeClock());
  q.add("a");
  const first = await q.get();
  assert.equal(first, "a");
  q.add("a");
  q.add("a");
  assert.equal(q.length, 0, "not queued while processing");
  q.done("a");
  assert.equal(q.length, 1, "re-queued exactly once after done");
  assert.equal(await q.get(), "a");
  q.done("a");
  assert.equal(q.length, 0);
});

test("a waiting get() receives a key added later", async () => {
  const q = new WorkQueue(fakeClock());
  const pending = q.get();
  q.add("x");
  assert.equal(await pending, "x");
});

test("addAfter keeps the earliest deadline and add() cancels the delay", async () => {
  const clock = fakeClock();
  const q = new WorkQueue(clock);
  q.addAfter("a", 1000);
  q.addAfter("a", 5000);
  assert.equal(q.pendingDelay("a"), 1000);
  clock.advance(999);
  assert.equal(q.length, 0);
  clock.advance(1);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), "a");
  q.done("a");
  q.addAfter("b", 1000);
  q.add("b");
  assert.equal(q.pendingDelay("b"), undefined);
  clock.advance(2000);
  assert.equal(q.length, 1, "the cancelled delayed add does not add a second item");
});

test("shutdown releases waiting workers with undefined", async () => {
  const q = new WorkQueue(fakeClock());
  const pending = q.get();
  q.shutdown();
  assert.equal(await pending, undefined);
});

test("backoff doubles per failure, is capped, and resets on forget", () => {
  const b = new Backoff({ baseMs: 100, maxMs: 1000 });
  assert.deepEqual([b.next("k"), b.next("k"), b.next("k"), b.next("k"), b.next("k")], [100, 200, 400, 800, 1000]);
  assert.equal(b.next("other"), 100, "keys back off independently");
  b.forget("k");
  assert.equal(b.next("k"), 100);
});

test("jitter adds at most the given fraction", () => {
  assert.equal(withJitter(60_000, 0.05, () => 0), 60_000);
  assert.equal(withJitter(60_000, 0.05, () => 1), 63_000);
});
