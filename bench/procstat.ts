// Reading a process's CPU time and peak RSS from /proc (Linux).
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux this runs on (USER_HZ). */
export const clockTicks = 100;

export interface CpuTimes {
  /** utime + stime of the process, seconds. */
  self: number;
  /** cutime + cstime: CPU of children it waited for (git, kustomize, …), seconds. */
  children: number;
}

/** Parses /proc/<pid>/stat; the command name may hold spaces and parentheses, so fields start after the last ")". */
export function parseStat(text: string): CpuTimes {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new Error("unexpected /proc/<pid>/stat format");
  // After ")": state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17); index 0 here is field 3.
  const f = text.slice(close + 2).trim().split(/\s+/);
  const n = (field: number) => Number(f[field - 3]);
  return { self: (n(14) + n(15)) / clockTicks, children: (n(16) + n(17)) / clockTicks };
}

/** Peak resident set size (VmHWM) in MiB from /proc/<pid>/status; undefined when absent (e.g. a zombie). */
export function parsePeakRssMiB(status: string): number | undefined {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) / 1024 : undefined;
}

export async function readCpu(pid: number): Promise<CpuTimes | undefined> {
  try {
    return parseStat(await fs.readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

export async function readPeakRssMiB(pid: number): Promise<number | undefined> {
  try {
    return parsePeakRssMiB(await fs.readFile(`/proc/${pid}/status`, "utf8"));
  } catch {
    return undefined;
  }
}

/** CPU seconds a process (with its reaped children) spent between two readings. */
export function cpuDelta(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (!before || !after) return undefined;
  return Math.round((after.self + after.children - before.self - before.children) * 100) / 100;
}

/** The whole machine's CPU time from /proc/stat's first line, seconds summed over all CPUs. */
export interface HostCpu {
  /** user, nice, system, irq and softirq. */
  busy: number;
  /** idle and iowait. */
  idle: number;
  /** Time the hypervisor ran something else while a CPU of this machine had work: a busy host shows here. */
  steal: number;
  /** TCP connections this machine opened (/proc/net/snmp ActiveOpens): a client that reconnects shows here. */
  tcpOpens?: number;
  /** Context switches of all CPUs (/proc/stat ctxt): many short wake-ups cost every process cache and time. */
  contextSwitches?: number;
}

/** ActiveOpens from /proc/net/snmp's Tcp lines (a header line, then a values line). */
export function parseTcpOpens(text: string): number | undefined {
  const [header, values] = text.split("\n").filter((l) => l.startsWith("Tcp:"));
  if (!header || !values) return undefined;
  const i = header.split(/\s+/).indexOf("ActiveOpens");
  const v = Number(values.split(/\s+/)[i]);
  return i > 0 && Number.isFinite(v) ? v : undefined;
}

/** Parses /proc/stat's aggregate "cpu" line (user nice system idle iowait irq softirq steal …, in USER_HZ). */
export function parseHostStat(text: string): HostCpu {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("unexpected /proc/stat format: no aggregate cpu line");
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const t = (v: number | undefined) => (v ?? 0) / clockTicks;
  const ctxt = /^ctxt (\d+)$/m.exec(text);
  return { busy: t(user) + t(nice) + t(system) + t(irq) + t(softirq), idle: t(idle) + t(iowait), steal: t(steal), ...(ctxt ? { contextSwitches: Number(ctxt[1]) } : {}) };
}

export async function readHostCpu(): Promise<HostCpu | undefined> {
  try {
    const host = parseHostStat(await fs.readFile("/proc/stat", "utf8"));
    host.tcpOpens = parseTcpOpens(await fs.readFile("/proc/net/snmp", "utf8").catch(() => ""));
    return host;
  } catch {
    return undefined;
  }
}

/** The machine's busy, idle and stolen CPU seconds between two readings. */
export function hostDelta(before: HostCpu | undefined, after: HostCpu | undefined): HostWindow | undefined {
  if (!before || !after) return undefined;
  const d = (k: "busy" | "idle" | "steal") => Math.round((after[k] - before[k]) * 100) / 100;
  const count = (k: "tcpOpens" | "contextSwitches") => (before[k] !== undefined && after[k] !== undefined ? { [k]: after[k]! - before[k]! } : {});
  return { busySeconds: d("busy"), idleSeconds: d("idle"), stealSeconds: d("steal"), ...count("tcpOpens"), ...count("contextSwitches") };
}

/** The machine over a window: busy, idle and stolen CPU seconds, and the TCP connections it opened. */
export interface HostWindow {
  busySeconds: number;
  idleSeconds: number;
  stealSeconds: number;
  tcpOpens?: number;
  contextSwitches?: number;
  /** calibrate() right before and right after the window, ms. */
  calibrationMs?: [number, number];
}

/**
 * Starts a CPU window over named processes (e.g. the control plane's components besides the apiserver); the
 * function it returns reads them again and gives each one's CPU seconds since.
 */
export async function cpuWindow(processes: { name: string; pid: number }[]): Promise<() => Promise<Record<string, number | undefined>>> {
  const before = await Promise.all(processes.map((p) => readCpu(p.pid)));
  return async () => Object.fromEntries(await Promise.all(processes.map(async (p, k) => [p.name, cpuDelta(before[k], await readCpu(p.pid))] as const)));
}

/**
 * Milliseconds this process takes to hash a fixed 32 MiB with SHA-256, the best of five: the machine's speed at
 * that moment. Taken right before and after a window, it tells a slow host from a slow system.
 */
export function calibrate(): number {
  const block = Buffer.alloc(1 << 20, 0x5a);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    const h = createHash("sha256");
    for (let i = 0; i < 32; i++) h.update(block);
    h.digest();
    best = Math.min(best, performance.now() - t0);
  }
  return Math.round(best * 10) / 10;
}
