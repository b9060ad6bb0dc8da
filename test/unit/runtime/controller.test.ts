// The controller's pure parts: which informer changes need a reconcile, and the arithmetic of its retry and
// requeue delays. The controller's error policy and lifecycle run against the real apiserver in
// test/integration/runtime/controller.test.ts.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { needsReconcile } from "../../../controllers/runtime/controller";
import { Backoff, withJitter } from "../../../controllers/runtime/queue";
import type { KubeObject } from "../../../controllers/runtime/kube";

const obj = (generation: number, annotations?: Record<string, string>, deletionTimestamp?: string): KubeObject => ({
  apiVersion: "test.mooring.dev/v1",
  kind: "Widget",
  metadata: { name: "w", namespace: "ns", generation, annotations, deletionTimestamp },
});

test("a reconcile is needed for a new object, a spec change, a new requestedAt and a deletion, not for status", () => {
  assert.equal(needsReconcile(undefined, obj(1)), true, "new");
  assert.equal(needsReconcile(obj(1), obj(2)), true, "spec changed");
  assert.equal(needsReconcile(obj(1), obj(1, { "reconcile.fluxcd.io/requestedAt": "t1" })), true, "reconcile requested");
  assert.equal(needsReconcile(obj(1, { "reconcile.fluxcd.io/requestedAt": "t1" }), obj(1, { "reconcile.fluxcd.io/requestedAt": "t1" })), false, "same request");
  assert.equal(needsReconcile(obj(1), obj(1, undefined, "2026-01-01T00:00:00Z")), true, "deleted");
  assert.equal(needsReconcile(obj(1, undefined, "2026-01-01T00:00:00Z"), obj(1, undefined, "2026-01-01T00:00:00Z")), false, "still deleting");
  assert.equal(needsReconcile(obj(1), obj(1)), false, "status or metadata only");
});

test("retry delays double from the minimum and stop at the maximum (--min-retry-delay / --max-retry-delay)", () => {
  const b = new Backoff({ baseMs: 200, maxMs: 800 });
  assert.deepEqual(Array.from({ length: 5 }, () => b.next("ns/w")), [200, 400, 800, 800, 800]);
});

test("a requeue's jitter stays within [interval, interval × (1 + percentage)]", () => {
  for (const r of [0, 0.25, 0.5, 0.999999]) {
    const ms = withJitter(200, 0.5, () => r);
    assert.ok(ms >= 200 && ms <= 300, `${ms} for random ${r}`);
  }
  assert.equal(withJitter(200, 0.5, () => 0.5), 250);
  assert.equal(withJitter(200, 0, () => 0.9), 200, "no jitter at 0 %");
});
