import { test } from "node:test";
import * as assert from "node:assert/strict";
import { kustomizationTimeoutMs } from "../../../controllers/kustomize/timeout";

test("without spec.timeout the budget is the interval minus 30 seconds", () => {
  assert.equal(kustomizationTimeoutMs(10 * 60_000), 9.5 * 60_000);
  assert.equal(kustomizationTimeoutMs(5 * 60_000), 4.5 * 60_000);
});

test("spec.timeout wins over the interval", () => {
  assert.equal(kustomizationTimeoutMs(10 * 60_000, 2 * 60_000), 2 * 60_000);
  assert.equal(kustomizationTimeoutMs(60_000, 5 * 60_000), 5 * 60_000, "a timeout longer than the interval is kept");
});

test("never under 30 seconds, set or defaulted", () => {
  assert.equal(kustomizationTimeoutMs(60_000), 30_000);
  assert.equal(kustomizationTimeoutMs(45_000), 30_000);
  assert.equal(kustomizationTimeoutMs(10_000), 30_000);
  assert.equal(kustomizationTimeoutMs(10 * 60_000, 5_000), 30_000);
});
