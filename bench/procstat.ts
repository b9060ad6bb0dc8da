// Reading a process's CPU time and peak RSS from /proc (Linux).
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
