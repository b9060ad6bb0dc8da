import { test } from "node:test";
import * as assert from "node:assert/strict";
import { getCondition, markFailed, markReady, markTrue, setCondition, type WithConditions } from "../../../controllers/runtime/conditions";
import { needsReconcile } from "../../../controllers/runtime/controller";
import type { KubeObject } from "../../../controllers/runtime/kube";

const obj = (generation = 3): WithConditions => ({ metadata: { generation } });

test("setCondition records observedGeneration and keeps lastTransitionTime while the status holds", () => {
  const o = obj();
  setCondition(o, "Ready", "False", "GitOperationFailed", "boom", new Date("2024-01-01T00:00:00Z"));
  setCondition(o, "Ready", "False", "AuthenticationFailed", "again", new Date("2024-01-02T00:00:00Z"));
  const c = getCondition(o, "Ready")!;
  assert.equal(c.lastTransitionTime, "2024-01-01T00:00:00Z");
  assert.equal(c.reason, "AuthenticationFailed");
  assert.equal(c.observedGeneration, 3);
  setCondition(o, "Ready", "True", "Succeeded", "ok", new Date("2024-01-03T00:00:00Z"));
  assert.equal(getCondition(o, "Ready")!.lastTransitionTime, "2024-01-03T00:00:00Z");
});

test("markReady clears Reconciling and Stalled and sets observedGeneration", () => {
  const o = obj(7);
  markTrue(o, "Reconciling", "Progressing", "working");
  markTrue(o, "Stalled", "URLInvalid", "bad");
  markReady(o, "Succeeded", "stored artifact");
  assert.deepEqual(o.status!.conditions!.map((c) => c.type), ["Ready"]);
  assert.equal(o.status!.observedGeneration, 7);
});

test("markFailed: retryable errors are Reconciling/ProgressingWithRetry, terminal ones Stalled", () => {
  const retry = obj();
  markFailed(retry, "GitOperationFailed", "unreachable", false);
  assert.equal(getCondition(retry, "Ready")!.status, "False");
  assert.equal(getCondition(retry, "Reconciling")!.reason, "ProgressingWithRetry");
  assert.equal(getCondition(retry, "Stalled"), undefined);
  const stalled = obj();
  markFailed(stalled, "URLInvalid", "no host", true);
  assert.equal(getCondition(stalled, "Stalled")!.status, "True");
  assert.equal(getCondition(stalled, "Reconciling"), undefined);
});

const ko = (generation: number, annotations?: Record<string, string>, extra: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "X",
  metadata: { name: "a", generation, annotations, ...extra },
});

test("only generation, requestedAt and deletion changes trigger a reconcile (status updates do not)", () => {
  assert.equal(needsReconcile(undefined, ko(1)), true);
  assert.equal(needsReconcile(ko(1), ko(1, undefined, { resourceVersion: "9" })), false);
  assert.equal(needsReconcile(ko(1), ko(2)), true);
  assert.equal(needsReconcile(ko(1), ko(1, { "reconcile.fluxcd.io/requestedAt": "now" })), true);
  assert.equal(needsReconcile(ko(1, { other: "x" }), ko(1, { other: "y" })), false);
  assert.equal(needsReconcile(ko(1), ko(1, undefined, { deletionTimestamp: "2024-01-01T00:00:00Z" })), true);
});
