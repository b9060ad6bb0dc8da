// DIR/extra-processes.json: processes started next to a control plane (local controllers, a git host),
// recorded so `mooring local down --dir DIR` stops them too. Additive to state.json, which stays as is.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { processArgv, stopProcess } from "./processes";

export interface ExtraProcess {
  /** What it is, e.g. `source-controller` or `git-host`. */
  name: string;
  pid: number;
  /** argv[0] of the process (checked before signalling). */
  binary: string;
  /** A string its argv must contain (e.g. the script path): pids are reused, strangers are never signalled. */
  marker: string;
  log: string;
  startedAt: string;
}

export const extrasFile = "extra-processes.json";

export async function readExtras(dir: string): Promise<ExtraProcess[]> {
  try {
    const parsed = JSON.parse(await fs.readFile(path.join(dir, extrasFile), "utf8")) as unknown;
    return Array.isArray(parsed) ? (parsed as ExtraProcess[]).filter((p) => Number.isInteger(p?.pid) && typeof p.binary === "string" && typeof p.marker === "string") : [];
  } catch {
    return [];
  }
}

async function writeExtras(dir: string, list: ExtraProcess[]): Promise<void> {
  const file = path.join(dir, extrasFile);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(list, null, 2) + "\n");
  await fs.rename(tmp, file);
}

/** Whether the recorded process still runs (same pid, argv carries the marker). */
export async function extraRunning(p: ExtraProcess): Promise<boolean> {
  const argv = await processArgv(p.pid);
  return argv !== undefined && argv.some((a) => a.includes(p.marker));
}

/** Record a started process, replacing an earlier entry of the same name. */
export async function recordExtra(dir: string, entry: ExtraProcess): Promise<void> {
  const list = (await readExtras(dir)).filter((p) => p.name !== entry.name);
  await writeExtras(dir, [...list, entry]);
}

/** Stop one recorded process by name (when it still is what was recorded) and forget it. */
export async function stopExtra(dir: string, name: string, log: (line: string) => void = () => {}): Promise<boolean> {
  const list = await readExtras(dir);
  const entry = list.find((p) => p.name === name);
  let stopped = false;
  if (entry && (await extraRunning(entry))) {
    const result = await stopProcess(entry.pid, entry.binary);
    stopped = result !== "not running";
    log(`${entry.name} (pid ${entry.pid}): ${result}`);
  }
  await writeExtras(dir, list.filter((p) => p.name !== name));
  return stopped;
}

/** Stop every recorded process, newest first; returns the names stopped. */
export async function stopExtras(dir: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const stopped: string[] = [];
  for (const p of [...(await readExtras(dir))].reverse()) {
    if (await stopExtra(dir, p.name, log)) stopped.push(p.name);
  }
  await fs.rm(path.join(dir, extrasFile), { force: true });
  return stopped;
}
