// Detached component processes: spawn with output to a log file, identify by pid + /proc cmdline, stop.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, promises as fs } from "node:fs";
import * as path from "node:path";

export interface Spawned {
  pid: number;
  child: ChildProcess;
  /** Set once the process exited while we watched it. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

/** Start `binary args` detached, in its own process group, stdout+stderr appended to logFile. */
export function spawnDetached(binary: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Spawned {
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(binary, args, { detached: true, stdio: ["ignore", fd, fd], env });
    if (child.pid === undefined) throw new Error(`cannot start ${binary}`);
    const spawned: Spawned = { pid: child.pid, child };
    child.once("exit", (code, signal) => {
      spawned.exit = { code, signal };
    });
    child.unref();
    return spawned;
  } finally {
    closeSync(fd);
  }
}

/** argv of a live process, or undefined when it is gone or a zombie. */
export async function processArgv(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8");
    // Field 3, after the parenthesised command name (which may itself contain spaces or parentheses).
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    if (state === "Z" || state === "X") return undefined;
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, "utf8");
    const argv = cmdline.split("\0");
    if (argv.at(-1) === "") argv.pop();
    return argv;
  } catch {
    return undefined;
  }
}

/** True when pid is alive and still runs `binary` (pids are reused; never signal a stranger). */
export async function runsBinary(pid: number, binary: string): Promise<boolean> {
  const argv = await processArgv(pid);
  if (!argv || argv.length === 0) return false;
  return argv[0] === binary || path.basename(argv[0]!) === path.basename(binary);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Signal pid when it still runs binary; returns false when it was already gone. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stop pid (only when it still runs binary): SIGTERM, then SIGKILL after graceMs; resolves once it is gone.
 * Returns "stopped", "killed" or "not running".
 */
export async function stopProcess(pid: number, binary: string, graceMs = 10_000): Promise<"stopped" | "killed" | "not running"> {
  if (!(await runsBinary(pid, binary))) return "not running";
  signal(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await runsBinary(pid, binary))) return "stopped";
    await sleep(50);
  }
  signal(pid, "SIGKILL");
  for (let i = 0; i < 200; i++) {
    if (!(await runsBinary(pid, binary))) return "killed";
    await sleep(50);
  }
  throw new Error(`process ${pid} (${path.basename(binary)}) survived SIGKILL`);
}

/** Prefix of the line written into a component's log before each start (see `startMarker`). */
export const startMarkerPrefix = "=== mooring: start ";

export function startMarker(binary: string, args: string[]): string {
  return `${startMarkerPrefix}${new Date().toISOString()} ${binary} ${args.join(" ")}\n`;
}

/**
 * The last n lines of a log file ("" when it does not exist), from the latest start marker on: what an
 * earlier run of the component wrote is not this run's story.
 */
export async function tailFile(file: string, n = 20): Promise<string> {
  let text: string;
  try {
    const handle = await fs.open(file, "r");
    try {
      const { size } = await handle.stat();
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      await handle.read(buf, 0, len, size - len);
      text = buf.toString("utf8");
    } finally {
      await handle.close();
    }
  } catch {
    return "";
  }
  const marker = text.lastIndexOf(startMarkerPrefix);
  if (marker >= 0) text = text.slice(text.indexOf("\n", marker) + 1);
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-n).join("\n");
}
