// Shared pieces of the Bootstrap e2e tests: a fleet repository seeded from examples/fleet and the real
// Pulumi CLI on a local file backend running examples/local. The controllers run as the install's pods on
// the test cluster's real node (pods.ts reads them).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, promises as fs, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { TestContext } from "node:test";
import { projectRoot } from "../../local/tools";
import { prepareStack, pulumi, setConfig, stackOutputs, type PulumiResult, type PulumiWorkspace } from "../../local/pulumi";
import { isStatus } from "../harness/cluster";
import type { TestRepo } from "../fixtures/gitserver/repo";

export const kubeconfigPath = (): string => {
  const file = process.env.MOORING_TEST_KUBECONFIG;
  if (!file) throw new Error("MOORING_TEST_KUBECONFIG is not set: run e2e tests via `node scripts/test.js e2e`");
  return file;
};

/** Every file of examples/fleet, by repository path. */
export function fleetFiles(): Record<string, string> {
  const root = path.join(projectRoot(), "examples", "fleet");
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out[path.relative(root, full)] = readFileSync(full, "utf8");
    }
  };
  walk(root);
  return out;
}

export function gitLog(bare: string, branch = "main"): string[] {
  return execFileSync("git", ["--git-dir", bare, "log", "--format=%H %s", branch], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
}

export function gitShow(bare: string, file: string, branch = "main"): string | undefined {
  try {
    return execFileSync("git", ["--git-dir", bare, "show", `${branch}:${file}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined;
  }
}

export interface Stack {
  ws: PulumiWorkspace;
  up(extra?: string[]): Promise<PulumiResult>;
  preview(): Promise<PulumiResult>;
  destroy(): Promise<PulumiResult>;
  config(key: string, value: string, secret?: boolean): Promise<void>;
  outputs(): Promise<Record<string, unknown>>;
}

/** A stack of examples/local in a fresh state directory (removed after the test). */
export async function localStack(t: TestContext, name: string, config: Record<string, string>, secrets: Record<string, string> = {}): Promise<Stack> {
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), `mooring-e2e-${name}-`));
  t.after(() => fs.rm(stateDir, { recursive: true, force: true }));
  const ws: PulumiWorkspace = { programDir: path.join(projectRoot(), "examples", "local"), stateDir, stack: name };
  await prepareStack(ws);
  const stack: Stack = {
    ws,
    up: (extra = []) => pulumi(ws, ["up", "--yes", "--skip-preview", ...extra], { timeoutMs: 600_000 }),
    preview: () => pulumi(ws, ["preview", "--diff"], { timeoutMs: 300_000 }),
    destroy: () => pulumi(ws, ["destroy", "--yes", "--skip-preview"], { timeoutMs: 600_000 }),
    config: (key, value, secret = false) => setConfig(ws, key, value, secret),
    outputs: () => stackOutputs(ws),
  };
  await stack.config("kubeconfig", kubeconfigPath());
  for (const [k, v] of Object.entries(config)) await stack.config(k, v);
  for (const [k, v] of Object.entries(secrets)) await stack.config(k, v, true);
  return stack;
}

export async function exists(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return true;
  } catch (err) {
    if (isStatus(err, 404)) return false;
    throw err;
  }
}

/** Seed a test repository with examples/fleet. */
export function seedFleet(repo: TestRepo): string {
  return repo.commit(fleetFiles(), "Fleet from examples/fleet");
}

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: "Someone Else",
  GIT_AUTHOR_EMAIL: "someone@mooring.invalid",
  GIT_COMMITTER_NAME: "Someone Else",
  GIT_COMMITTER_EMAIL: "someone@mooring.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
};

/** Commit files on top of the branch's current head (fresh clone of the bare repository) and push. */
export function pushCommit(bare: string, files: Record<string, string>, message: string, branch = "main"): string {
  const work = mkdtempSync(path.join(os.tmpdir(), "mooring-e2e-work-"));
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: work, env: gitEnv, encoding: "utf8" }).trim();
    git("clone", "-q", "--branch", branch, bare, ".");
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(work, p)), { recursive: true });
      writeFileSync(path.join(work, p), content);
    }
    git("add", "-A");
    git("commit", "-q", "-m", message);
    git("push", "-q", "origin", branch);
    return git("rev-parse", "HEAD");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
