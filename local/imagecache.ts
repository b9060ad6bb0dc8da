// The machine-wide image cache (`${XDG_CACHE_HOME:-~/.cache}/mooring/images/`) and the steps every offline
// image build shares: run a command with progress, one builder per cache entry, layer tars, content hashes.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export type Progress = (line: string) => void;

export class ImageBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageBuildError";
  }
}

/** Where built layers and image archives are kept for every checkout on this machine. */
export function imageCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== "" ? env.XDG_CACHE_HOME : path.join(os.homedir(), ".cache");
  return path.join(base, "mooring", "images");
}

export function fmtSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function fmtMiB(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/**
 * Run one build step; progress every 15 s while it runs. Rejects with the command and the tail of its output,
 * so a failed step says what failed and why.
 */
export function runStep(
  label: string,
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; progress?: Progress } = {},
): Promise<string> {
  const progress = opts.progress ?? (() => {});
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const keep = (d: Buffer) => (out = (out + d.toString()).slice(-100_000));
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const ticker = setInterval(() => progress(`${label} (${fmtSeconds(Date.now() - started)})`), 15_000);
    child.on("error", (err) => {
      clearInterval(ticker);
      const hint = (err as NodeJS.ErrnoException).code === "ENOENT" ? ` (is ${cmd} installed?)` : "";
      reject(new ImageBuildError(`${label}: cannot start ${cmd}${hint}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearInterval(ticker);
      if (code === 0) return resolve(out);
      const tail = out.trim().split("\n").slice(-20).join("\n");
      reject(new ImageBuildError(`${label}: ${cmd} ${args.slice(0, 3).join(" ")} … failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** One builder of a cache entry at a time on this machine: `<entry>.lock` holds the builder's pid. */
export async function withCacheLock<T>(entry: string, progress: Progress, fn: () => Promise<T>): Promise<T> {
  const lock = `${entry}.lock`;
  await fs.mkdir(path.dirname(lock), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      const handle = await fs.open(lock, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number((await fs.readFile(lock, "utf8").catch(() => "")).trim());
      const age = Date.now() - ((await fs.stat(lock).catch(() => undefined))?.mtimeMs ?? 0);
      if ((holder && !pidAlive(holder)) || (!holder && age > 10_000)) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (!announced) progress(`waiting for process ${holder}, which builds ${path.basename(entry)}`);
      announced = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

/**
 * A layer tar of everything under `stageDir` (paths relative to it, so `stageDir/usr/bin/x` is `usr/bin/x`):
 * owned by root, nothing group- or world-writable, every file readable, fixed times and sorted names, so the
 * same content gives the same bytes.
 */
export async function writeLayerTar(stageDir: string, out: string, progress?: Progress): Promise<void> {
  const entries = (await fs.readdir(stageDir)).sort();
  if (entries.length === 0) throw new ImageBuildError(`layer ${path.basename(out)}: ${stageDir} is empty`);
  const tmp = `${out}.tmp-${process.pid}`;
  await runStep(
    `layer ${path.basename(out)}`,
    "tar",
    [
      "--create",
      `--file=${tmp}`,
      `--directory=${stageDir}`,
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--mode=a+rX,go-w",
      "--mtime=@0",
      "--sort=name",
      "--format=posix",
      "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
      ...entries,
    ],
    { progress },
  );
  await fs.rename(tmp, out);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** sha256 over a directory tree: every file's relative path, mode bits that matter, and content. */
export async function hashTree(root: string): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (rel: string): Promise<void> => {
    const entries = (await fs.readdir(path.join(root, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) {
        hash.update(`d ${p}\0`);
        await walk(p);
      } else if (e.isSymbolicLink()) {
        hash.update(`l ${p} ${await fs.readlink(path.join(root, p))}\0`);
      } else if (e.isFile()) {
        const st = await fs.stat(path.join(root, p));
        hash.update(`f ${p} ${st.mode & 0o111 ? "x" : "-"}\0`);
        hash.update(await fs.readFile(path.join(root, p)));
      }
    }
  };
  await walk("");
  return hash.digest("hex");
}

export function sha256Text(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
