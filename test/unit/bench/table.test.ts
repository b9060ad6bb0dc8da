import { test } from "node:test";
import * as assert from "node:assert/strict";
import { renderTable, type Run } from "../../../bench/table";

const run = (system: Run["system"], n: number, seconds: number | null): Run => ({
  system,
  n,
  seconds,
  peakRssMiB: system.startsWith("floor") ? {} : { source: 80, kustomize: 95 },
  cpuSeconds: system.startsWith("floor") ? { floor: 3, apiserver: 20 } : { source: 1.5, kustomize: 30, apiserver: 40 },
});

test("rows go by N then system order, with ratios to Mooring and to the floor", () => {
  const table = renderTable([run("flux", 100, 80), run("floor", 100, 10), run("floor-gitops", 100, 15), run("mooring", 100, 20), run("mooring", 1000, 40)]);
  const rows = table.trim().split("\n").slice(2);
  assert.deepEqual(rows.map((r) => r.split("|")[1]!.trim()), ["mooring", "flux", "floor-gitops", "floor", "mooring"]);
  assert.match(rows[0]!, /\| mooring \| 100 \| 20\.0 \| 1\.00× \| 2\.00× \| 80 \/ 95 \| 1\.5 \/ 30\.0 \| 40\.0 \|/);
  assert.match(rows[1]!, /\| flux \| 100 \| 80\.0 \| 4\.00× \| 8\.00× \|/);
  assert.match(rows[2]!, /\| floor-gitops \| 100 \| 15\.0 \| 0\.75× \| 1\.50× \| – \| 3\.0 \(loop\) \|/);
  assert.match(rows[3]!, /\| floor \| 100 \| 10\.0 \| 0\.50× \| 1\.00× \| – \| 3\.0 \(loop\) \|/);
  assert.match(rows[4]!, /\| mooring \| 1000 \| 40\.0 \| 1\.00× \| – \|/);
});

test("a timed-out run shows why and no ratio", () => {
  const table = renderTable([{ ...run("flux", 100, null), error: "deadline 900s", ready: 41 }, run("mooring", 100, 20)]);
  assert.match(table, /\| flux \| 100 \| timed out \(deadline 900s; 41\/100 Ready\) \| – \| – \|/);
});

test("each row shows the 1-minute load average before its run", () => {
  const table = renderTable([{ ...run("mooring", 100, 20), loadavg: { before: [3.25, 4, 5], after: [6, 6, 6] } }, run("floor", 100, 10)]);
  assert.match(table, /\| mooring \| 100 \| 20\.0 \|.*\| 3\.3 \| – \| – \|\n/);
  assert.match(table, /\| floor \| 100 \| 10\.0 \|.*\| – \| – \| – \|\n/);
});

test("requests per Kustomization come from the run's request total", () => {
  const table = renderTable([{ ...run("mooring", 100, 20), requests: { total: 1250, byKind: { "APPLY deployments": 1250 } } }, run("floor", 100, 10)]);
  assert.match(table, /\| mooring \| 100 \|.*\| 40\.0 \| 12\.5 \| – \| – \| – \| – \|\n/);
  assert.match(table, /\| floor \| 100 \|.*\| 20\.0 \| – \| – \| – \| – \| – \|\n/);
});

test("each row shows the CPU seconds the hypervisor stole from the machine during its window", () => {
  const table = renderTable([{ ...run("mooring", 100, 20), host: { busySeconds: 38, idleSeconds: 2, stealSeconds: 4.26 } }, run("floor", 100, 10)]);
  assert.match(table, /\| host steal s \| speed probe ms before \/ after \|\n/);
  assert.match(table, /\| mooring \| 100 \| 20\.0 \|.*\| 4\.3 \| – \|\n/);
  assert.match(table, /\| floor \| 100 \| 10\.0 \|.*\| – \| – \|\n/);
});

test("watch events per Kustomization come from the run's watch event total", () => {
  const table = renderTable([{ ...run("mooring", 100, 20), requests: { total: 1250, byKind: {} }, watchEvents: { events: 3125, megabytes: 4.2, byResource: { "kustomizations.kustomize.toolkit.fluxcd.io": 3125 } } }, run("floor", 100, 10)]);
  assert.match(table, /\| requests ÷ N \| watch events ÷ N \|/);
  assert.match(table, /\| mooring \| 100 \|.*\| 12\.5 \| 31\.3 \| – \| – \| – \|\n/);
});

test("each row shows the speed probe taken right before and after its window", () => {
  const table = renderTable([{ ...run("mooring", 100, 20), host: { busySeconds: 38, idleSeconds: 2, stealSeconds: 0.1, calibrationMs: [22.6, 31.25] } }]);
  assert.match(table, /\| speed probe ms before \/ after \|\n/);
  assert.match(table, /\| mooring \| 100 \| 20\.0 \|.*\| 0\.1 \| 22\.6 \/ 31\.3 \|\n/);
});
