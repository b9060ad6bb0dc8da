// Running the git CLI: bounded in time, cancellable, never prompting, output scrubbed of secrets.
import { execFile } from "node:child_process";
import { BootstrapError } from "../errors";
import { scrub } from "./credentials";

export interface GitRunOptions {
  cwd: string;
  env?: Record<string, string>;
  secrets?: readonly string[];
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Exit codes that are answers, not failures (e.g. 2 for `ls-remote --exit-code`). */
  okExitCodes?: readonly number[];
}

export interface GitRunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const authFailure = /Authentication failed|could not read Username|Permission denied \(publickey|HTTP 40[13]|returned error: 40[13]|Host key verification failed|terminal prompts disabled/i;

/** Why a failed git command failed, as a reason a caller can act on. */
export function classifyGitFailure(stderr: string): "GitAuthFailed" | "GitPushRejected" | "GitCommandFailed" {
  if (authFailure.test(stderr)) return "GitAuthFailed";
  if (/\[rejected\]|non-fast-forward|fetch first|failed to push some refs|\[remote rejected\].*(cannot lock|failed to update|incorrect old value)/i.test(stderr)) return "GitPushRejected";
  return "GitCommandFailed";
}

export function runGit(args: readonly string[], options: GitRunOptions): Promise<GitRunResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "",
    SSH_ASKPASS: "",
    GIT_CONFIG_NOSYSTEM: "1",
    LC_ALL: "C",
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      args,
      { cwd: options.cwd, env, timeout: options.timeoutMs ?? 120_000, signal: options.signal, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : -1) : 0;
        if (!err || options.okExitCodes?.includes(code)) {
          resolve({ stdout, stderr, exitCode: code });
          return;
        }
        const secrets = options.secrets ?? [];
        const detail = scrub((stderr || err.message).trim(), secrets);
        const what = err.name === "AbortError" ? "was cancelled" : (err as { killed?: boolean }).killed ? "timed out" : "failed";
        const error = new BootstrapError(classifyGitFailure(detail), `git ${scrub(args[0] ?? "", secrets)} ${what}: ${detail}`);
        reject(error);
      },
    );
  });
}
