import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Slots, maxKustomizeProcesses } from "../../../controllers/kustomize/build";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test("kustomize processes are limited: at most size run at once, the others wait their turn in order", async () => {
  assert.ok(maxKustomizeProcesses >= 2 && maxKustomizeProcesses <= 4);
  const slots = new Slots(2);
  const signal = new AbortController().signal;
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const job = (i: number) =>
    slots.run(signal, async () => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      order.push(i);
      running--;
      return i;
    });
  assert.deepEqual(await Promise.all([1, 2, 3, 4, 5].map(job)), [1, 2, 3, 4, 5]);
  assert.equal(peak, 2);
  assert.deepEqual(order, [1, 2, 3, 4, 5]);
  assert.equal(slots.inUse, 0);
});

test("a waiter whose signal aborts leaves the queue; a failing job frees its slot", async () => {
  const slots = new Slots(1);
  const free = new AbortController().signal;
  let release!: () => void;
  const first = slots.run(free, () => new Promise<void>((r) => (release = r)));
  const ctl = new AbortController();
  const waiting = slots.run(ctl.signal, async () => "never");
  ctl.abort(new Error("reconcile timed out"));
  await assert.rejects(waiting, /reconcile timed out/);
  release();
  await first;
  await assert.rejects(slots.run(free, async () => Promise.reject(new Error("build failed"))), /build failed/);
  assert.equal(await slots.run(free, async () => "next"), "next");
  assert.equal(slots.inUse, 0);
});
