import { test } from "node:test";
import * as assert from "node:assert/strict";
import { calibrate, cpuDelta, cpuWindow, hostDelta, parseHostStat, parsePeakRssMiB, parseStat, parseTcpOpens } from "../../../bench/procstat";

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

test("parseHostStat sums busy and idle time and reads steal from /proc/stat's aggregate line", () => {
  const stat = "cpu  1000 50 300 5000 100 20 30 400 0 0\ncpu0 500 25 150 2500 50 10 15 200 0 0\nintr 1 2 3\nctxt 987654\n";
  assert.deepEqual(parseHostStat(stat), { busy: 14, idle: 51, steal: 4, contextSwitches: 987654 });
  assert.deepEqual(hostDelta(parseHostStat(stat), parseHostStat(stat.replace("ctxt 987654", "ctxt 1000000"))), { busySeconds: 0, idleSeconds: 0, stealSeconds: 0, contextSwitches: 12346 });
  assert.throws(() => parseHostStat("intr 1 2 3\n"), /no aggregate cpu line/);
});

test("hostDelta is the machine's CPU between two readings, undefined without both", () => {
  assert.deepEqual(hostDelta({ busy: 10, idle: 5, steal: 1 }, { busy: 48.5, idle: 6.25, steal: 3.5 }), { busySeconds: 38.5, idleSeconds: 1.25, stealSeconds: 2.5 });
  assert.equal(hostDelta(undefined, { busy: 1, idle: 1, steal: 0 }), undefined);
});

test("cpuWindow gives each named process its CPU seconds since the window began", async () => {
  const end = await cpuWindow([{ name: "self", pid: process.pid }, { name: "gone", pid: 2 ** 22 + 1 }]);
  const until = Date.now() + 50;
  while (Date.now() < until) Math.sqrt(Math.random());
  const spent = await end();
  assert.ok((spent.self ?? -1) >= 0, `self: ${spent.self}`);
  assert.equal(spent.gone, undefined, "a process that does not exist has no reading");
});

test("parseTcpOpens reads ActiveOpens from /proc/net/snmp's Tcp lines; hostDelta counts the connections opened", () => {
  const snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens\nTcp: 1 200 120000 -1 270856 269077\nUdp: InDatagrams\nUdp: 5\n";
  assert.equal(parseTcpOpens(snmp), 270856);
  assert.equal(parseTcpOpens("Ip: Forwarding\nIp: 1\n"), undefined);
  assert.deepEqual(hostDelta({ busy: 1, idle: 1, steal: 0, tcpOpens: 100 }, { busy: 2, idle: 1, steal: 0, tcpOpens: 350 }), { busySeconds: 1, idleSeconds: 0, stealSeconds: 0, tcpOpens: 250 });
});

test("calibrate times a fixed amount of hashing: a positive number of milliseconds", () => {
  const ms = calibrate();
  assert.ok(Number.isFinite(ms) && ms > 0, `calibrate() = ${ms}`);
});
