import { test } from "node:test";
import * as assert from "node:assert/strict";
import { median, percentile, summarize } from "../../../bench/stats";

test("percentile is nearest-rank over the sorted samples", () => {
  const v = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
  assert.equal(percentile(v, 50), 5);
  assert.equal(percentile(v, 95), 10);
  assert.equal(percentile(v, 90), 9);
  assert.equal(percentile(v, 0), 1);
  assert.equal(percentile(v, 100), 10);
  assert.equal(percentile([], 50), undefined);
  assert.throws(() => percentile(v, 101), RangeError);
});

test("median averages the two middle samples of an even count", () => {
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([]), undefined);
});

test("summarize counts timed-out samples apart from the statistics", () => {
  const s = summarize([1.2345, 2, 3], 2);
  assert.equal(s.samples, 5);
  assert.equal(s.timedOut, 2);
  assert.equal(s.medianSeconds, 2);
  assert.equal(s.p95Seconds, 3);
  assert.deepEqual(s.seconds, [1.235, 2, 3]);
});
