import { test } from "node:test";
import * as assert from "node:assert/strict";
import { cpuDelta, parsePeakRssMiB, parseStat } from "../../../bench/procstat";

test("parseStat reads utime+stime and cutime+cstime after a command name with spaces and parentheses", () => {
  const stat = "1234 (node (worker) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 11 0 555 0 0";
  assert.deepEqual(parseStat(stat), { self: 3, children: 0.5 });
});

test("parsePeakRssMiB reads VmHWM in MiB", () => {
  assert.equal(parsePeakRssMiB("Name:\tnode\nVmPeak:\t 999 kB\nVmHWM:\t  102400 kB\nVmRSS:\t 51200 kB\n"), 100);
  assert.equal(parsePeakRssMiB("Name:\tzombie\n"), undefined);
});

test("cpuDelta includes reaped children and is undefined without both readings", () => {
  assert.equal(cpuDelta({ self: 1, children: 0.5 }, { self: 3.25, children: 1 }), 2.75);
  assert.equal(cpuDelta(undefined, { self: 1, children: 0 }), undefined);
});
