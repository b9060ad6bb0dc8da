import { test } from "node:test";
import * as assert from "node:assert/strict";
import { renderReport, type Results } from "../../../bench/mttp";

const base: Results = {
  machine: { date: "2026-11-22T00:00:00Z", cpus: 2, cpuModel: "test", loadavg: [0, 0, 0] },
  runs: [{ system: "floor", n: 100, seconds: 1, peakRssMiB: {}, cpuSeconds: { floor: 0.5 } }],
  drift: {},
  commitToApplied: {},
};

test("a report without latency results has no latency table", () => {
  const md = renderReport(base);
  assert.match(md, /\| floor \| 100 \| 1\.0 \|/);
  assert.doesNotMatch(md, /\| latency \|/);
});

test("latency results get their table", () => {
  const md = renderReport({ ...base, drift: { mooring: { n: 100, note: "", samples: 20, timedOut: 0, medianSeconds: 0.05, p95Seconds: 0.09, seconds: [] } } });
  assert.match(md, /\| latency \| system \|/);
  assert.match(md, /\| drift revert \| mooring \| 100 \| 0\.05 \| 0\.09 \| 20\/20 \|/);
});
