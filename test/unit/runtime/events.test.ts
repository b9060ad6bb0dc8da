// The event queue: while reconciles run, events go out one at a time at a bounded rate; once the controllers
// are idle the backlog goes out several at a time; flush waits for all of them; duplicates are sent once.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { EventRecorder, busyEventsPerSecond } from "../../../controllers/runtime/events";
import type { KubeClient, KubeObject } from "../../../controllers/runtime/kube";
import { newLogger } from "../../../controllers/runtime/log";

/** A client whose create takes 20 ms and records when it started and how many were in flight. */
function fakeClient(): { client: KubeClient; starts: number[]; maxInFlight: () => number; notes: string[] } {
  let inFlight = 0;
  let max = 0;
  const starts: number[] = [];
  const notes: string[] = [];
  const client = {
    create: async (_ref: unknown, _ns: string, body: { note: string }) => {
      starts.push(Date.now());
      notes.push(body.note);
      max = Math.max(max, ++inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return body;
    },
  } as unknown as KubeClient;
  return { client, starts, maxInFlight: () => max, notes };
}

const obj = (name: string): KubeObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "ns", uid: `uid-${name}` } });
const silent = newLogger("silent");

test("while reconciles run, events are sent one at a time at the busy rate; idle, the backlog goes out in parallel", async () => {
  const f = fakeClient();
  let busy = true;
  const rec = new EventRecorder(f.client, "test-controller", silent, { busy: () => busy });
  for (let i = 0; i < 40; i++) rec.record(obj(`o${i}`), "Normal", "Test", `event ${i}`);
  await new Promise((r) => setTimeout(r, 1000));
  const sentBusy = f.starts.length;
  assert.ok(sentBusy >= 3 && sentBusy <= busyEventsPerSecond + 1, `sent ${sentBusy} in 1 s while busy`);
  assert.equal(f.maxInFlight(), 1, "one event request at a time while busy");
  for (let i = 1; i < f.starts.length; i++) assert.ok(f.starts[i]! - f.starts[i - 1]! >= 1000 / busyEventsPerSecond - 5, "paced");
  assert.equal(rec.pending, 40 - sentBusy);

  busy = false;
  const idleAt = Date.now();
  await rec.flush(5_000);
  assert.equal(f.starts.length, 40, "all events sent");
  assert.ok(f.maxInFlight() > 1, "several in flight once idle");
  assert.ok(Date.now() - idleAt < 1_000, `the backlog went out in ${Date.now() - idleAt} ms`);
  assert.deepEqual([...f.notes].sort(), Array.from({ length: 40 }, (_, i) => `event ${i}`).sort());
});

test("without reconciles running, events go out at once, several in flight; duplicates are sent once", async () => {
  const f = fakeClient();
  const rec = new EventRecorder(f.client, "test-controller", silent);
  const t0 = Date.now();
  for (let i = 0; i < 12; i++) rec.record(obj(`o${i}`), "Normal", "Test", "same note");
  rec.record(obj("o0"), "Normal", "Test", "same note");
  await rec.flush(5_000);
  assert.equal(f.starts.length, 12);
  assert.ok(f.maxInFlight() > 1);
  assert.ok(Date.now() - t0 < 500, `took ${Date.now() - t0} ms`);
});

test("flush gives up after its timeout and drops what is still queued", async () => {
  let calls = 0;
  const client = { create: () => (calls++, new Promise(() => {})) } as unknown as KubeClient;
  const rec = new EventRecorder(client, "test-controller", silent);
  for (let i = 0; i < 10; i++) rec.record(obj(`o${i}`), "Normal", "Test", `event ${i}`);
  const t0 = Date.now();
  await rec.flush(200);
  assert.ok(Date.now() - t0 < 2_000);
  assert.equal(rec.pending, 0, "nothing left queued");
  assert.equal(calls, 4, "only the requests already in flight were made");
});

test("event metadata goes into the Event's annotations; without it the Event has none", async () => {
  const bodies: { metadata: { annotations?: Record<string, string> }; note: string }[] = [];
  const client = { create: async (_ref: unknown, _ns: string, body: (typeof bodies)[number]) => (bodies.push(body), body) } as unknown as KubeClient;
  const rec = new EventRecorder(client, "test-controller", silent);
  rec.record(obj("a"), "Normal", "ReconciliationSucceeded", "with", "Reconcile", { "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc" });
  rec.record(obj("a"), "Normal", "ReconciliationSucceeded", "without");
  await rec.flush(5_000);
  const byNote = Object.fromEntries(bodies.map((b) => [b.note, b.metadata.annotations]));
  assert.deepEqual(byNote.with, { "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc" });
  assert.equal(byNote.without, undefined);
});
