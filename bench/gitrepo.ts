// The benchmark's fleet repository: a bare repository plus a work tree to commit from, served over smart
// HTTP with basic auth by local/githost.ts (the same host the demo uses).
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import type * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { promisify } from "node:util";
import { serveGit } from "../local/githost";

const run = promisify(execFile);

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: "Mooring Bench",
  GIT_AUTHOR_EMAIL: "bench@mooring.invalid",
  GIT_COMMITTER_NAME: "Mooring Bench",
  GIT_COMMITTER_EMAIL: "bench@mooring.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
};

export const gitCredentials = { username: "bench", password: "bench-password" };

export class BenchRepo {
  private server?: http.Server;
  readonly bare: string;
  readonly work: string;

  private constructor(readonly dir: string) {
    this.bare = path.join(dir, "root", "fleet.git");
    this.work = path.join(dir, "work");
  }

  private async git(cwd: string, ...args: string[]): Promise<string> {
    const { stdout } = await run("git", args, { cwd, env: gitEnv, maxBuffer: 16 << 20, timeout: 120_000 });
    return stdout.trim();
  }

  /** Creates the repository under dir with files committed on main. */
  static async create(dir: string, files: Record<string, string>): Promise<BenchRepo> {
    const repo = new BenchRepo(dir);
    await fs.mkdir(path.dirname(repo.bare), { recursive: true });
    await fs.mkdir(repo.work, { recursive: true });
    await repo.git(dir, "init", "-q", "--bare", "-b", "main", repo.bare);
    await repo.git(repo.work, "init", "-q", "-b", "main");
    await repo.git(repo.work, "remote", "add", "origin", repo.bare);
    await repo.commit(files, "fleet");
    return repo;
  }

  /** Writes files, commits and pushes main; returns the commit sha. */
  async commit(files: Record<string, string>, message: string): Promise<string> {
    for (const [p, content] of Object.entries(files)) {
      const full = path.join(this.work, p);
      await fs.mkdir(path.dirname(full), { recursive: true });
      await fs.writeFile(full, content);
    }
    await this.git(this.work, "add", "-A");
    await this.git(this.work, "commit", "-q", "-m", message);
    await this.git(this.work, "push", "-q", "origin", "main");
    return this.git(this.work, "rev-parse", "HEAD");
  }

  /** The sha of main's last commit. */
  head(): Promise<string> {
    return this.git(this.work, "rev-parse", "HEAD");
  }

  async readFile(p: string): Promise<string> {
    return fs.readFile(path.join(this.work, p), "utf8");
  }

  /** Serves the repository on a free loopback port; returns its clone URL. */
  async serve(): Promise<string> {
    this.server = await serveGit({ root: path.dirname(this.bare), port: 0, ...gitCredentials });
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/fleet.git`;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
