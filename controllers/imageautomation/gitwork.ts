// The git side of an automation run, on the source-controller's git code path (GitSession: credentials in a
// private scratch dir, never on the command line): check out the ref, let the caller edit the tree, commit
// (optionally signed with an OpenPGP key), push. A push refused as non-fast-forward is retried on the new tip
// of the branch with the edits applied again; anything else refused is an error and nothing is pushed.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { GitError, type GitAuth, GitSession } from "../source/git";

const run = promisify(execFile);

export interface CommitSpec {
  authorName: string;
  authorEmail: string;
  /** Armored OpenPGP private key, and its passphrase if it has one. */
  signingKey?: { armored: string; passphrase?: string };
}

export interface PushSpec {
  /** Branch the commit is pushed to. */
  branch: string;
  refspec?: string;
  options?: Record<string, string>;
}

export interface CheckoutTarget {
  /** e.g. refs/heads/main, refs/tags/v1 */
  fetchRef?: string;
  commit?: string;
}

export interface RunOutcome {
  /** The commit checked out (the base of the last attempt). */
  base: string;
  /** The pushed commit, when something changed. */
  pushed?: string;
  message?: string;
  attempts: number;
}

export class PushRejectedError extends Error {}

const maxAttempts = 4;
const nonFastForward = /\[rejected\].*\((fetch first|non-fast-forward|stale info)\)/;

/** Imports the key into the session's GnuPG home and returns a gpg wrapper for git plus the key's fingerprint. */
async function prepareSigning(session: GitSession, key: NonNullable<CommitSpec["signingKey"]>): Promise<{ program: string; fingerprint: string }> {
  const home = path.join(session.dir, ".gnupg");
  await fs.promises.mkdir(home, { mode: 0o700, recursive: true });
  const keyFile = path.join(session.dir, "signing.asc");
  await fs.promises.writeFile(keyFile, key.armored, { mode: 0o600 });
  const passFile = path.join(session.dir, "signing.pass");
  await fs.promises.writeFile(passFile, key.passphrase ?? "", { mode: 0o600 });
  const gpgArgs = ["--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase-file", passFile];
  try {
    await run("gpg", [...gpgArgs, "--import", keyFile], { timeout: 30_000 });
  } catch {
    throw new GitError("unable to import the signing key: the Secret's 'git.asc' is not an armored OpenPGP private key", "other");
  }
  const { stdout } = await run("gpg", [...gpgArgs, "--with-colons", "--list-secret-keys"], { timeout: 30_000 });
  const fpr = /^fpr:+([0-9A-F]+):/m.exec(stdout)?.[1];
  if (!fpr) throw new GitError("unable to import the signing key: no secret key in 'git.asc'", "other");
  const program = path.join(session.dir, "gpg-sign");
  await fs.promises.writeFile(program, `#!/bin/sh\nexec gpg ${gpgArgs.map((a) => `'${a}'`).join(" ")} "$@"\n`, { mode: 0o700 });
  return { program, fingerprint: fpr };
}

/**
 * Checks out, edits (`edit` returns the commit message, or undefined when nothing changed), commits and pushes.
 * `scratch` is a directory this run owns.
 */
export async function commitAndPush(o: {
  url: string;
  auth: GitAuth;
  checkout: CheckoutTarget;
  push: PushSpec;
  commit: CommitSpec;
  scratch: string;
  signal: AbortSignal;
  edit: (tree: string) => Promise<string | undefined>;
}): Promise<RunOutcome> {
  const session = await GitSession.open(new URL(o.url), o.auth, o.scratch);
  try {
    const signing = o.commit.signingKey ? await prepareSigning(session, o.commit.signingKey) : undefined;
    let target = o.checkout;
    for (let attempt = 1; ; attempt++) {
      const tree = path.join(session.dir, `tree-${attempt}`);
      const base = await session.checkout(o.url, tree, target, o.signal);
      const message = await o.edit(tree);
      if (message === undefined) return { base, attempts: attempt };
      const git = (args: string[], what: string) => session.run(args, { cwd: tree, signal: o.signal, what });
      await git(["add", "-A"], "git add");
      if (!(await git(["status", "--porcelain"], "git status")).trim()) return { base, attempts: attempt };
      const messageFile = path.join(session.dir, "message");
      await fs.promises.writeFile(messageFile, message);
      const identity = ["-c", `user.name=${o.commit.authorName}`, "-c", `user.email=${o.commit.authorEmail}`];
      const sign = signing ? ["-c", `gpg.program=${signing.program}`, "-c", `user.signingkey=${signing.fingerprint}`] : [];
      await git([...identity, ...sign, "commit", "-q", ...(signing ? ["-S"] : []), "-F", messageFile], "unable to commit");
      const sha = (await git(["rev-parse", "HEAD"], "git rev-parse")).trim();
      const refspecs = [`HEAD:refs/heads/${o.push.branch}`];
      if (o.push.refspec) refspecs.push(o.push.refspec);
      const pushOptions = Object.entries(o.push.options ?? {}).flatMap(([k, v]) => ["-o", v ? `${k}=${v}` : k]);
      const quiet = ["-c", "advice.pushUpdateRejected=false", "-c", "advice.pushFetchFirst=false", "-c", "advice.pushNonFFCurrent=false", "-c", "advice.pushNonFFMatching=false"];
      try {
        await git([...quiet, "push", "-q", ...pushOptions, "--", o.url, ...refspecs], `unable to push to branch '${o.push.branch}'`);
        return { base, pushed: sha, message, attempts: attempt };
      } catch (err) {
        if (err instanceof GitError && nonFastForward.test(err.message) && attempt < maxAttempts) {
          // Someone pushed first: start again from the branch's new tip.
          target = { fetchRef: `refs/heads/${o.push.branch}` };
          continue;
        }
        if (err instanceof GitError && /remote rejected|\[rejected\]/.test(err.message)) throw new PushRejectedError(err.message);
        throw err;
      }
    }
  } finally {
    await session.dispose();
  }
}
