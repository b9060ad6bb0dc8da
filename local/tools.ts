// The pinned toolchain: every binary Mooring runs in tests, the demo and benchmarks.
// A tool is taken from PATH when its version matches the pin, else from the machine-wide cache,
// else built there from its Go module with the machine's Go.
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { constants as fsc, promises as fs, readdirSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { withFileLock } from "./lock";

export interface VersionCheck {
  /** Arguments that make the binary print its version. */
  args?: string[];
  /** A regular expression the output must match. With goModule: the module version. */
  expect: string;
  /** Check the module version recorded in the binary's build info instead of running it. */
  goModule?: string;
}

export interface BuildSpec {
  version: string;
  /**
   * A Go module of this repository (directory relative to the repository root, with its own go.mod and
   * go.sum) built instead of a downloaded one. Its cache directory is keyed by a digest of its files, so an
   * edit makes a new build; it is never taken from PATH.
   */
  source?: string;
  module: string;
  moduleVersion: string;
  /** Version used for the upstream module's relative `replace` lines (its sibling modules). */
  relativeReplaceVersion?: string;
  /** Binary name → Go package path. */
  binaries: Record<string, string>;
  ldflags: string[];
  /** Files the upstream release build generates that the module lacks: written into a copy of its source. */
  sourceFiles?: Record<string, string>;
  /**
   * Files the upstream release build derives from files the module ships (e.g. by `go generate`):
   * target path → the module file it is copied from, optionally with top-level JSON fields set.
   */
  sourceCopies?: Record<string, SourceCopy>;
  /** Built only when asked for by name (tools only the benchmarks need), not by a plain `mooring tools`. */
  onDemand?: boolean;
  check: Record<string, VersionCheck>;
}

export interface SourceCopy {
  /** Path of a file inside the module, relative to its root. */
  from: string;
  /** Top-level fields set in the copy; the file is parsed as a JSON object and written back compactly. */
  jsonSet?: Record<string, unknown>;
}

export interface ToolsFile {
  builds: Record<string, BuildSpec>;
}

export type ToolOrigin = "PATH" | "cache" | "built";

export interface ResolvedTool {
  name: string;
  build: string;
  version: string;
  path: string;
  from: ToolOrigin;
}

export class ToolError extends Error {
  constructor(
    readonly tool: string,
    readonly version: string,
    message: string,
  ) {
    super(message);
    this.name = "ToolError";
  }
}

const repoRoot = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "mooring") return dir;
    } catch {
      // keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the mooring package root above ${start}`);
    dir = parent;
  }
}

export function projectRoot(): string {
  return repoRoot;
}

export function loadTools(file = path.join(repoRoot, "local", "tools.json")): ToolsFile {
  return JSON.parse(readFileSync(file, "utf8")) as ToolsFile;
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== "" ? env.XDG_CACHE_HOME : path.join(os.homedir(), ".cache");
  return path.join(base, "mooring", "tools");
}

export function buildDir(build: string, spec: BuildSpec, env: NodeJS.ProcessEnv = process.env): string {
  const suffix = spec.source ? `-${sourceDigest(spec.source).slice(0, 12)}` : "";
  return path.join(cacheRoot(env), `${build}-${spec.version}${suffix}`);
}

/** Hex sha256 over the names and contents of a local module's go.mod, go.sum and .go files. */
export function sourceDigest(source: string, root = repoRoot): string {
  const dir = path.join(root, source);
  const h = createHash("sha256");
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (e.name.endsWith(".go") || e.name === "go.mod" || e.name === "go.sum")) {
        h.update(`${p}\0`);
        h.update(readFileSync(path.join(dir, p)));
        h.update("\0");
      }
    }
  };
  walk("");
  return h.digest("hex");
}

/** Every pinned binary name with the build it comes from. */
export function toolNames(tools: ToolsFile = loadTools()): { name: string; build: string; spec: BuildSpec }[] {
  return Object.entries(tools.builds).flatMap(([build, spec]) =>
    Object.keys(spec.binaries).map((name) => ({ name, build, spec })),
  );
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsc.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function whichOnPath(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when the binary at `file` reports the pinned version. */
export async function versionMatches(file: string, check: VersionCheck): Promise<boolean> {
  if (check.goModule) {
    const out = await run("go", ["version", "-m", file]);
    if (out.code !== 0) return false;
    return out.stdout
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .some((f) => (f[0] === "dep" || f[0] === "mod") && f[1] === check.goModule && f[2] === check.expect);
  }
  const out = await run(file, check.args ?? ["--version"], { timeoutMs: 15_000 });
  return new RegExp(check.expect, "m").test(out.stdout + out.stderr);
}

interface Stamp {
  build: string;
  version: string;
  binaries: string[];
}

async function readStamp(dir: string): Promise<Stamp | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, "stamp.json"), "utf8")) as Stamp;
  } catch {
    return undefined;
  }
}

/** Locate one tool without building: PATH at the pinned version, then the cache. */
export async function findTool(name: string, tools: ToolsFile = loadTools()): Promise<ResolvedTool | undefined> {
  const entry = toolNames(tools).find((t) => t.name === name);
  if (!entry) throw new Error(`unknown tool "${name}"; known: ${toolNames(tools).map((t) => t.name).join(", ")}`);
  const check = entry.spec.check[name];
  const onPath = entry.spec.source ? undefined : await whichOnPath(name);
  if (onPath && check && (await versionMatches(onPath, check))) {
    return { name, build: entry.build, version: entry.spec.version, path: onPath, from: "PATH" };
  }
  const dir = buildDir(entry.build, entry.spec);
  const stamp = await readStamp(dir);
  const cached = path.join(dir, "bin", name);
  if (stamp?.version === entry.spec.version && stamp.binaries.includes(name) && (await isExecutable(cached))) {
    return { name, build: entry.build, version: entry.spec.version, path: cached, from: "cache" };
  }
  return undefined;
}

/** Path of one tool's binary, or a ToolError that says what to run. */
export async function toolPath(name: string): Promise<string> {
  const tool = await findTool(name);
  if (!tool) {
    const entry = toolNames().find((t) => t.name === name);
    throw new ToolError(name, entry?.spec.version ?? "?", `${name} ${entry?.spec.version ?? ""} is not installed: run \`npx mooring tools\``);
  }
  return tool.path;
}

export type Progress = (line: string) => void;

/** The tools `ensureTools` resolves: the named ones, else all but the on-demand builds (all of them with `all`). */
export function wantedTools(tools: ToolsFile, opts: { only?: string[]; all?: boolean }): ReturnType<typeof toolNames> {
  return toolNames(tools).filter((t) => (opts.only ? opts.only.includes(t.name) : opts.all || !t.spec.onDemand));
}

/**
 * Resolve the pinned tools, building what is missing. Builds run one at a time (they use every core).
 * Without `only`, on-demand builds are left out unless `all` is set.
 */
export async function ensureTools(opts: { progress?: Progress; only?: string[]; all?: boolean } = {}): Promise<ResolvedTool[]> {
  const tools = loadTools();
  const progress = opts.progress ?? (() => {});
  const wanted = wantedTools(tools, opts);
  const unknown = (opts.only ?? []).filter((n) => !wanted.some((w) => w.name === n));
  if (unknown.length) throw new Error(`unknown tool(s): ${unknown.join(", ")}`);
  const resolved: ResolvedTool[] = [];
  const builtBuilds = new Set<string>();
  for (const t of wanted) {
    let found = await findTool(t.name, tools);
    if (!found && !builtBuilds.has(t.build)) {
      await withBuildLock(t.build, t.spec, progress, async () => {
        // Another process may have finished this build while we waited for the lock.
        if (!(await findTool(t.name, tools))) await buildTool(t.build, t.spec, progress);
      });
      builtBuilds.add(t.build);
      found = await findTool(t.name, tools);
      if (found) found = { ...found, from: "built" };
    } else if (found && builtBuilds.has(t.build) && found.from === "cache") {
      found = { ...found, from: "built" };
    }
    if (!found) {
      throw new ToolError(t.name, t.spec.version, `${t.name} ${t.spec.version}: build finished but the binary does not report the pinned version`);
    }
    resolved.push(found);
  }
  return resolved;
}

/** One build of a tool at a time on this machine: a lock file holding the builder's pid. */
function withBuildLock(build: string, spec: BuildSpec, progress: Progress, fn: () => Promise<void>): Promise<void> {
  return withFileLock(`${buildDir(build, spec)}.lock`, (holder) => progress(`[tools] ${build} ${spec.version}: waiting for the build running in process ${holder}`), fn, 2000);
}

/** The wrapper module's go.mod: require the upstream module and repeat its replace lines. */
export function wrapperGoMod(build: string, spec: BuildSpec, upstreamGoMod: string, srcOverride: boolean): string {
  const lines = [`module mooring.local/tools/${build}`, "", "go 1.24", "", `require ${spec.module} ${spec.moduleVersion}`, ""];
  for (const r of parseReplaces(upstreamGoMod)) {
    if (r.to.startsWith(".")) {
      if (r.to.includes("FORBIDDEN")) continue;
      const version = spec.relativeReplaceVersion ?? spec.moduleVersion;
      lines.push(`replace ${r.from} => ${r.fromModule} ${version}`);
    } else {
      lines.push(`replace ${r.from} => ${r.to}`);
    }
  }
  if (srcOverride) lines.push(`replace ${spec.module} => ./src`);
  return lines.join("\n") + "\n";
}

export interface ReplaceLine {
  from: string;
  fromModule: string;
  to: string;
}

export function parseReplaces(goMod: string): ReplaceLine[] {
  const out: ReplaceLine[] = [];
  const add = (raw: string) => {
    const line = raw.replace(/\/\/.*$/, "").trim();
    const idx = line.indexOf("=>");
    if (idx < 0) return;
    const from = line.slice(0, idx).trim();
    const to = line.slice(idx + 2).trim();
    out.push({ from, fromModule: from.split(/\s+/)[0]!, to });
  };
  for (const block of goMod.matchAll(/^replace\s*\(([\s\S]*?)^\)/gm)) {
    for (const l of block[1]!.split("\n")) add(l);
  }
  for (const m of goMod.matchAll(/^replace\s+([^(\n].*)$/gm)) add(m[1]!);
  return out;
}

function fmtElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local", CGO_ENABLED: "0" };
}

/** Run one build step, printing progress every 15 s; reject with the tail of its output. */
function step(build: string, spec: BuildSpec, name: string, cmd: string, args: string[], cwd: string, progress: Progress): Promise<string> {
  const started = Date.now();
  progress(`[tools] ${build} ${spec.version}: ${name} ...`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: goEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
    child.stderr.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
    const ticker = setInterval(() => progress(`[tools] ${build} ${spec.version}: ${name} (${fmtElapsed(Date.now() - started)})`), 15_000);
    child.on("error", (err) => {
      clearInterval(ticker);
      reject(new ToolError(build, spec.version, `${build} ${spec.version}: ${name} could not start ${cmd}: ${err.message}`));
    });
    child.on("close", (code) => {
      clearInterval(ticker);
      if (code === 0) {
        progress(`[tools] ${build} ${spec.version}: ${name} done in ${fmtElapsed(Date.now() - started)}`);
        resolve(out);
      } else {
        const tail = out.trim().split("\n").slice(-25).join("\n");
        reject(new ToolError(build, spec.version, `${build} ${spec.version}: ${name} failed (exit ${code}):\n${tail}`));
      }
    });
  });
}

/** Builds a module of this repository (spec.source) with its own go.mod and go.sum. */
async function buildLocalTool(build: string, spec: BuildSpec, progress: Progress): Promise<void> {
  const dir = buildDir(build, spec);
  const bin = path.join(dir, "bin");
  const started = Date.now();
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(bin, { recursive: true });
  const ldflags = ["-s", "-w", ...spec.ldflags].join(" ");
  for (const [name, pkg] of Object.entries(spec.binaries)) {
    await step(build, spec, `go build ${name}`, "go", ["build", "-trimpath", "-ldflags", ldflags, "-o", path.join(bin, name), pkg], path.join(repoRoot, spec.source!), progress);
    const check = spec.check[name];
    if (check && !(await versionMatches(path.join(bin, name), check))) {
      throw new ToolError(name, spec.version, `${name} ${spec.version}: built binary does not report the pinned version (expected /${check.expect}/)`);
    }
  }
  const stamp: Stamp = { build, version: spec.version, binaries: Object.keys(spec.binaries) };
  await fs.writeFile(path.join(dir, "stamp.json"), JSON.stringify(stamp, null, 2) + "\n");
  progress(`[tools] ${build} ${spec.version}: built in ${fmtElapsed(Date.now() - started)}`);
}

async function buildTool(build: string, spec: BuildSpec, progress: Progress): Promise<void> {
  if (spec.source) return buildLocalTool(build, spec, progress);
  const dir = buildDir(build, spec);
  const work = path.join(dir, "work");
  const bin = path.join(dir, "bin");
  const started = Date.now();
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(work, { recursive: true });
  await fs.writeFile(path.join(work, "go.mod"), `module mooring.local/tools/${build}-download\n\ngo 1.24\n`);
  const dl = await step(build, spec, "download module", "go", ["mod", "download", "-json", `${spec.module}@${spec.moduleVersion}`], work, progress);
  const info = JSON.parse(dl) as { Dir: string; GoMod: string };
  const upstreamGoMod = await fs.readFile(info.GoMod, "utf8");
  const override = Object.keys(spec.sourceFiles ?? {}).length > 0 || Object.keys(spec.sourceCopies ?? {}).length > 0;
  if (override) {
    const src = path.join(work, "src");
    await fs.cp(info.Dir, src, { recursive: true });
    await makeWritable(src);
    for (const [rel, content] of Object.entries(spec.sourceFiles ?? {})) {
      const target = moduleFile(src, rel, build, spec);
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(target, content);
    }
    await applySourceCopies(src, build, spec);
  }
  await fs.writeFile(path.join(work, "go.mod"), wrapperGoMod(build, spec, upstreamGoMod, override));
  // Seed checksums from the upstream module's own go.sum (itself covered by the module's verified hash),
  // so dependencies the checksum database cannot answer for still verify.
  const upstreamSum = await fs.readFile(path.join(info.Dir, "go.sum"), "utf8").catch(() => "");
  await fs.writeFile(path.join(work, "go.sum"), upstreamSum);
  await fs.writeFile(path.join(work, "tools.go"), `//go:build tools\n\npackage tools\n`);
  const ldflags = ["-s", "-w", ...spec.ldflags].join(" ");
  await fs.mkdir(bin, { recursive: true });
  await step(
    build,
    spec,
    `go build ${Object.keys(spec.binaries).join(", ")}`,
    "go",
    ["build", "-trimpath", "-ldflags", ldflags, "-o", bin + path.sep, ...Object.values(spec.binaries)],
    work,
    progress,
  );
  // `go build -o dir/` names each binary after its package directory; rename to the tool names.
  for (const [name, pkg] of Object.entries(spec.binaries)) {
    const produced = path.join(bin, path.basename(pkg.replace(/\/v\d+$/, "")));
    const wanted = path.join(bin, name);
    if (produced !== wanted) {
      const alt = path.join(bin, path.basename(pkg));
      const from = (await isExecutable(produced)) ? produced : alt;
      await fs.rename(from, wanted);
    }
    const check = spec.check[name];
    if (check && !(await versionMatches(wanted, check))) {
      throw new ToolError(name, spec.version, `${name} ${spec.version}: built binary does not report the pinned version (expected /${check.expect}/)`);
    }
  }
  const stamp: Stamp = { build, version: spec.version, binaries: Object.keys(spec.binaries) };
  await fs.writeFile(path.join(dir, "stamp.json"), JSON.stringify(stamp, null, 2) + "\n");
  progress(`[tools] ${build} ${spec.version}: built in ${fmtElapsed(Date.now() - started)}`);
}

/** A path inside the module copy; a path that would leave it is a ToolError naming the entry. */
function moduleFile(src: string, rel: string, build: string, spec: BuildSpec): string {
  const target = path.resolve(src, rel);
  if (path.isAbsolute(rel) || !target.startsWith(src + path.sep)) {
    throw new ToolError(build, spec.version, `${build} ${spec.version}: "${rel}" in local/tools.json is not a path inside the module`);
  }
  return target;
}

/** Write each `sourceCopies` target from its module file, into the module copy at `src`. */
export async function applySourceCopies(src: string, build: string, spec: BuildSpec): Promise<void> {
  for (const [rel, copy] of Object.entries(spec.sourceCopies ?? {})) {
    const target = moduleFile(src, rel, build, spec);
    const from = moduleFile(src, copy.from, build, spec);
    let content: Buffer;
    try {
      content = await fs.readFile(from);
    } catch (err) {
      throw new ToolError(build, spec.version, `${build} ${spec.version}: the module has no ${copy.from} to copy to ${rel} (${(err as Error).message})`);
    }
    if (copy.jsonSet) {
      let doc: unknown;
      try {
        doc = JSON.parse(content.toString("utf8"));
      } catch (err) {
        throw new ToolError(build, spec.version, `${build} ${spec.version}: ${copy.from} is not JSON, so jsonSet cannot apply (${(err as Error).message})`);
      }
      if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
        throw new ToolError(build, spec.version, `${build} ${spec.version}: ${copy.from} is not a JSON object, so jsonSet cannot apply`);
      }
      content = Buffer.from(JSON.stringify({ ...(doc as Record<string, unknown>), ...copy.jsonSet }));
    }
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, content);
  }
}

async function makeWritable(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeWritable(p);
    else await fs.chmod(p, 0o644);
  }
}

/** Size in bytes of a directory tree (for the tools table). */
export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await treeSize(p);
    else if (e.isFile()) total += (await fs.stat(p)).size;
  }
  return total;
}

/**
 * PATH for child processes that need the tools: cached tool dirs plus the @pulumi/pulumi package root.
 * Pulumi resource provider plugins (pulumi-resource-*) stay off PATH: the engine would take them for any
 * version asked, with a warning; local/pulumi.ts installs them into PULUMI_HOME at their version instead.
 */
export async function toolsPathEnv(env: NodeJS.ProcessEnv = process.env): Promise<NodeJS.ProcessEnv> {
  const dirs = new Set<string>();
  for (const t of toolNames()) {
    if (t.name.startsWith("pulumi-resource-")) continue;
    const found = await findTool(t.name);
    if (found) dirs.add(path.dirname(found.path));
  }
  dirs.add(path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [repoRoot] })));
  return { ...env, PATH: [...dirs, env.PATH ?? ""].join(path.delimiter) };
}
