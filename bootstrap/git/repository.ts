// Commit files to a branch of a remote repository: shallow fetch → change → commit → push, retrying
// rejected pushes by fetching and rebasing (or re-applying the change when the rebase conflicts).
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { BootstrapError, isBootstrapError } from "../errors";
import { gitAuthEnvironment, scrub, splitUrlCredentials, type GitCredentials } from "./credentials";
import { runGit, type GitRunOptions } from "./exec";
import { backoffDelay, sleep } from "../../controllers/api/wait";

export interface GitTarget {
  /** Repository URL: https://, ssh://, scp-like `git@host:org/repo.git`, or file://. */
  url: string;
  /** Branch to commit to; created when the repository or the branch does not exist yet. */
  branch: string;
  /** Credentials; https userinfo embedded in the URL is used when none are given. Default none. */
  credentials?: GitCredentials;
}

export interface CommitAuthor {
  name: string;
  email: string;
}

/** Files to write (repository-relative path → content) and paths to delete. */
export interface FileChanges {
  write?: Record<string, string>;
  delete?: readonly string[];
}

/** The checkout a change is computed against: the branch's current content. */
export interface Worktree {
  read(path: string): Promise<string | undefined>;
}

export type ChangeFunction = (tree: Worktree) => FileChanges | Promise<FileChanges>;

export interface RetryPolicy {
  /** Push attempts before giving up. Default 5. */
  attempts?: number;
  /** First backoff delay; doubles per attempt, with jitter. Default 250 ms. */
  baseDelayMs?: number;
  /** Backoff cap. Default 5000 ms. */
  maxDelayMs?: number;
}

export interface CommitOptions extends GitTarget {
  /** The change: fixed files, or a function of the current content (re-run if the branch moved). */
  change: FileChanges | ChangeFunction;
  message: string;
  author: CommitAuthor;
  /** Committer; default the author. */
  committer?: CommitAuthor;
  retry?: RetryPolicy;
  /** Timeout of each git command. Default 120 s. */
  commandTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface CommitResult {
  /** The branch head after the call: our commit, or the existing head when nothing changed. Undefined only for an empty branch left empty. */
  commit: string | undefined;
  /** Whether a new commit was pushed. */
  changed: boolean;
  /** Push attempts made (0 when nothing changed). */
  attempts: number;
}

/** Reject absolute paths, `..` and anything inside `.git`: a change must stay in the work tree. */
export function checkRepoPath(path: string): string {
  const normal = posix.normalize(path.replace(/\\/g, "/"));
  if (path === "" || posix.isAbsolute(normal) || normal === ".." || normal.startsWith("../") || normal === "." || normal.split("/").includes(".git")) {
    throw new BootstrapError("InvalidInput", `git: path "${path}" must be relative, inside the repository and outside .git`);
  }
  return normal;
}

interface Session {
  dir: string;
  run(args: readonly string[], extra?: Partial<GitRunOptions>): Promise<string>;
  safeUrl: string;
  branch: string;
}

function backoff(attempt: number, policy: RetryPolicy): number {
  return backoffDelay(attempt, { baseMs: policy.baseDelayMs ?? 250, maxMs: policy.maxDelayMs ?? 5000, jitter: "equal" });
}

async function remoteHead(s: Session): Promise<string | undefined> {
  const out = await s.run(["ls-remote", "--exit-code", "origin", `refs/heads/${s.branch}`], { okExitCodes: [2] });
  return out.split(/\s+/)[0] || undefined;
}

/** Check out the branch's remote head (shallow), or start the branch from nothing. */
async function checkoutRemote(s: Session): Promise<string | undefined> {
  const head = await remoteHead(s);
  if (head === undefined) {
    await s.run(["checkout", "-q", "--orphan", s.branch]);
    await s.run(["rm", "-rfq", "--cached", "--ignore-unmatch", "."]);
    await s.run(["clean", "-fdxq"]);
    return undefined;
  }
  await s.run(["fetch", "-q", "--depth=1", "origin", `+refs/heads/${s.branch}:refs/remotes/origin/${s.branch}`]);
  await s.run(["checkout", "-q", "-B", s.branch, `refs/remotes/origin/${s.branch}`]);
  await s.run(["clean", "-fdxq"]);
  return (await s.run(["rev-parse", "HEAD"])).trim();
}

async function applyChange(s: Session, change: FileChanges | ChangeFunction): Promise<boolean> {
  const tree: Worktree = {
    read: async (path) => {
      try {
        return await readFile(join(s.dir, checkRepoPath(path)), "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw err;
      }
    },
  };
  const changes = typeof change === "function" ? await change(tree) : change;
  for (const [path, content] of Object.entries(changes.write ?? {})) {
    const target = join(s.dir, checkRepoPath(path));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }
  for (const path of changes.delete ?? []) {
    await rm(join(s.dir, checkRepoPath(path)), { force: true, recursive: true });
  }
  await s.run(["add", "-A", "."]);
  const status = await s.run(["status", "--porcelain"]);
  return status.trim() !== "";
}

async function commit(s: Session, message: string): Promise<string> {
  await s.run(["commit", "-q", "--no-verify", "--no-gpg-sign", "-m", message]);
  return (await s.run(["rev-parse", "HEAD"])).trim();
}

/**
 * After a rejected push: bring our commit on top of the new remote head. Rebase first (keeps our
 * commit as made); when that conflicts, or the branch appeared from nowhere, re-apply the change to
 * the new head. Returns false when the remote already has our content (nothing left to push).
 */
async function catchUp(s: Session, base: string | undefined, change: FileChanges | ChangeFunction, message: string): Promise<{ base: string | undefined; pending: boolean }> {
  const newBase = await checkoutRemoteKeepingHead(s);
  if (base !== undefined && newBase !== undefined) {
    try {
      await s.run(["rebase", "-q", "--onto", newBase, base, s.branch]);
      const head = (await s.run(["rev-parse", "HEAD"])).trim();
      return { base: newBase, pending: head !== newBase };
    } catch {
      await s.run(["rebase", "--abort"], { okExitCodes: [1, 128] });
    }
  }
  await s.run(["checkout", "-q", "-f", "-B", s.branch, newBase ?? "HEAD"]);
  if (newBase === undefined) return { base: undefined, pending: true };
  await s.run(["clean", "-fdxq"]);
  const pending = await applyChange(s, change);
  if (pending) await commit(s, message);
  return { base: newBase, pending };
}

async function checkoutRemoteKeepingHead(s: Session): Promise<string | undefined> {
  const head = await remoteHead(s);
  if (head === undefined) return undefined;
  await s.run(["fetch", "-q", "--depth=1", "origin", `+refs/heads/${s.branch}:refs/remotes/origin/${s.branch}`]);
  return (await s.run(["rev-parse", `refs/remotes/origin/${s.branch}`])).trim();
}

/**
 * Commit a change to a branch and push it. Nothing changed → no commit, the existing head is
 * returned. A rejected push is retried (fetch, rebase, jittered backoff) up to `retry.attempts`.
 */
export async function commitToBranch(options: CommitOptions): Promise<CommitResult> {
  if (!/^[^\s~^:?*[\\]+$/.test(options.branch) || options.branch.startsWith("-")) {
    throw new BootstrapError("InvalidInput", `git: branch "${options.branch}" is not a valid branch name`);
  }
  const { url, credentials } = splitUrlCredentials(options.url, options.credentials);
  const auth = await gitAuthEnvironment(credentials);
  const dir = await mkdtemp(join(tmpdir(), "mooring-git-"));
  const author = options.author;
  const committer = options.committer ?? author;
  const identity = {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
  };
  const s: Session = {
    dir,
    safeUrl: scrub(url, auth.secrets),
    branch: options.branch,
    run: async (args, extra) =>
      (
        await runGit(args, {
          cwd: dir,
          env: { ...auth.env, ...identity },
          secrets: auth.secrets,
          timeoutMs: options.commandTimeoutMs,
          signal: options.signal,
          ...extra,
        })
      ).stdout,
  };
  try {
    await s.run(["init", "-q"]);
    await s.run(["remote", "add", "origin", url]);
    let base = await checkoutRemote(s);
    if (!(await applyChange(s, options.change))) return { commit: base, changed: false, attempts: 0 };
    await commit(s, options.message);
    const attempts = options.retry?.attempts ?? 5;
    let lastError = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await s.run(["push", "-q", "origin", `HEAD:refs/heads/${s.branch}`]);
        return { commit: (await s.run(["rev-parse", "HEAD"])).trim(), changed: true, attempts: attempt };
      } catch (err) {
        if (!isBootstrapError(err, "GitPushRejected")) throw withContext(err, s);
        lastError = err.message.split("\n").find((l) => /rejected/.test(l))?.trim() ?? err.message;
      }
      if (attempt === attempts) break;
      await sleep(backoff(attempt, options.retry ?? {}), options.signal);
      options.signal?.throwIfAborted();
      const next = await catchUp(s, base, options.change, options.message);
      base = next.base;
      if (!next.pending) return { commit: base, changed: false, attempts: attempt };
    }
    throw new BootstrapError(
      "GitPushRejected",
      `git push to ${s.safeUrl} (branch ${s.branch}) rejected ${attempts} times: ${lastError}. Someone else keeps pushing to this branch; retry later or raise retry.attempts.`,
    );
  } catch (err) {
    throw withContext(err, s);
  } finally {
    await auth.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

function withContext(err: unknown, s: Session): unknown {
  if (!isBootstrapError(err) || err.message.includes(s.safeUrl)) return err;
  const hint = err.reason === "GitAuthFailed" ? " Check the credentials (token scope, deploy key registered with write access, known_hosts)." : "";
  return new BootstrapError(err.reason, `${s.safeUrl} (branch ${s.branch}): ${err.message}${hint}`);
}

/** Remove files from the branch in one commit (uninstall). Missing files are not an error. */
export function deleteFiles(target: GitTarget & Omit<CommitOptions, "change" | keyof GitTarget>, paths: readonly string[]): Promise<CommitResult> {
  return commitToBranch({ ...target, change: { delete: paths } });
}

/** The branch's head commit, without cloning; undefined when the branch does not exist. */
export async function readRemoteHead(target: GitTarget, signal?: AbortSignal): Promise<string | undefined> {
  const { url, credentials } = splitUrlCredentials(target.url, target.credentials);
  const auth = await gitAuthEnvironment(credentials);
  try {
    const result = await runGit(["ls-remote", "--exit-code", url, `refs/heads/${target.branch}`], {
      cwd: tmpdir(),
      env: auth.env,
      secrets: auth.secrets,
      signal,
      okExitCodes: [2],
    });
    return result.stdout.split(/\s+/)[0] || undefined;
  } finally {
    await auth.dispose();
  }
}
