// Git over the git CLI: ls-remote and shallow fetch by ref, with credentials handed to git through the
// environment and files in a private temp dir — never on the command line, in URLs, or in logs.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface GitAuth {
  username?: string;
  password?: string;
  bearerToken?: string;
  /** PEM CA bundle for HTTPS. */
  caFile?: string;
  /** PEM client certificate and key for HTTPS mutual TLS. */
  tlsCert?: string;
  tlsKey?: string;
  /** SSH private key (OpenSSH or PEM). */
  identity?: string;
  /** Passphrase of an encrypted SSH private key. */
  passphrase?: string;
  knownHosts?: string;
  /** Proxy for every remote operation: http://, https:// or socks5:// with optional user:password@. */
  proxy?: string;
}

/** Proxy variables passed through from the controller's environment (the Deployment's HTTPS_PROXY, …). */
const proxyEnv = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"];

/** The program ssh runs as ProxyCommand to tunnel through an HTTP CONNECT or SOCKS5 proxy. */
const sshProxyCommand = path.join(__dirname, "proxycommand.js");

const maxOutput = 64 * 1024 * 1024;

export class GitError extends Error {
  constructor(
    message: string,
    readonly kind: "auth" | "notfound" | "network" | "other",
  ) {
    super(message);
    this.name = "GitError";
  }
}

/** A scratch space holding credentials files and a clean HOME; remove with dispose(). */
export class GitSession {
  private constructor(
    readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** `tempRoot` is where the session's private directory is made (default: the OS temp directory). */
  static async open(url: URL, auth: GitAuth, tempRoot = os.tmpdir()): Promise<GitSession> {
    const dir = await fs.promises.mkdtemp(path.join(tempRoot, "mooring-git-"));
    await fs.promises.chmod(dir, 0o700);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_ASKPASS: "/bin/false",
      SSH_ASKPASS: "/bin/false",
      LANG: "C",
      LC_ALL: "C",
    };
    for (const k of proxyEnv) if (process.env[k] !== undefined) env[k] = process.env[k];
    const config: [string, string][] = [["protocol.version", "2"], ["credential.helper", ""]];
    if (url.protocol === "ssh:") {
      const args = ["ssh", "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=15"];
      if (auth.identity) {
        const key = path.join(dir, "identity");
        await fs.promises.writeFile(key, auth.identity.endsWith("\n") ? auth.identity : auth.identity + "\n", { mode: 0o600 });
        args.push("-i", key);
      }
      if (auth.passphrase !== undefined) {
        // ssh asks its askpass program for the key's passphrase; the program reads it from a private file, so
        // the passphrase is never in argv or the environment. Every other prompt is switched off.
        const secret = path.join(dir, "passphrase");
        await fs.promises.writeFile(secret, auth.passphrase, { mode: 0o600 });
        const askpass = path.join(dir, "askpass");
        await fs.promises.writeFile(askpass, `#!/bin/sh\nexec cat '${secret}'\n`, { mode: 0o700 });
        env.SSH_ASKPASS = askpass;
        env.SSH_ASKPASS_REQUIRE = "force";
        args.push("-o", "BatchMode=no", "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no", "-o", "PreferredAuthentications=publickey", "-o", "NumberOfPasswordPrompts=1");
      } else {
        args.push("-o", "BatchMode=yes");
      }
      const proxy = auth.proxy ?? process.env.ALL_PROXY ?? process.env.all_proxy;
      if (proxy) {
        // The proxy URL (it may hold credentials) reaches the ProxyCommand through the environment only.
        env.MOORING_GIT_PROXY = proxy;
        args.push("-o", `ProxyCommand=${shellQuote(process.execPath)} ${shellQuote(sshProxyCommand)} %h %p`);
      }
      if (auth.knownHosts) {
        const kh = path.join(dir, "known_hosts");
        await fs.promises.writeFile(kh, auth.knownHosts, { mode: 0o600 });
        args.push("-o", `UserKnownHostsFile=${kh}`, "-o", "StrictHostKeyChecking=yes");
      } else {
        // Without known_hosts the host cannot be verified; refuse rather than trust on first use.
        args.push("-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes");
      }
      env.GIT_SSH_COMMAND = args.map(shellQuote).join(" ");
    } else {
      // Credentials go only to the repository's own host (submodules elsewhere do not receive them).
      const origin = `${url.protocol}//${url.host}/`;
      if (auth.bearerToken) config.push([`http.${origin}.extraHeader`, `Authorization: Bearer ${auth.bearerToken}`]);
      else if (auth.username !== undefined || auth.password !== undefined) {
        const basic = Buffer.from(`${auth.username ?? ""}:${auth.password ?? ""}`).toString("base64");
        config.push([`http.${origin}.extraHeader`, `Authorization: Basic ${basic}`]);
      }
      const file = async (name: string, content: string) => {
        const p = path.join(dir, name);
        await fs.promises.writeFile(p, content, { mode: 0o600 });
        return p;
      };
      if (auth.caFile) config.push(["http.sslCAInfo", await file("ca.crt", auth.caFile)]);
      if (auth.tlsCert && auth.tlsKey) {
        config.push([`http.${origin}.sslCert`, await file("tls.crt", auth.tlsCert)]);
        config.push([`http.${origin}.sslKey`, await file("tls.key", auth.tlsKey)]);
      }
      if (auth.proxy) config.push(["http.proxy", auth.proxy]);
    }
    // GIT_CONFIG_COUNT keeps secrets out of argv (visible in ps) while still configuring git.
    env.GIT_CONFIG_COUNT = String(config.length);
    config.forEach(([k, v], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = k;
      env[`GIT_CONFIG_VALUE_${i}`] = v;
    });
    return new GitSession(dir, env);
  }

  async dispose(): Promise<void> {
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Runs git; failures become GitError with stderr cleaned of anything credential-like. git runs in its own
   * process group so an abort kills it together with its remote helpers (git-remote-http, ssh), which would
   * otherwise outlive it holding the pipes open until the remote answers.
   */
  run(args: string[], o: { cwd?: string; signal: AbortSignal; what: string }): Promise<string> {
    return new Promise((resolve, reject) => {
      if (o.signal.aborted) return reject(new GitError(`${o.what}: timed out`, "network"));
      const child = spawn("git", args, { cwd: o.cwd, env: this.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      const killGroup = () => {
        try {
          if (child.pid) process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      };
      o.signal.addEventListener("abort", killGroup, { once: true });
      child.stdout.on("data", (c: Buffer) => {
        size += c.length;
        if (size > maxOutput) killGroup();
        else out.push(c);
      });
      child.stderr.on("data", (c: Buffer) => {
        if (err.length < 256) err.push(c);
      });
      child.on("error", (e) => {
        o.signal.removeEventListener("abort", killGroup);
        reject(new GitError(`${o.what}: ${e.message}`, "other"));
      });
      child.on("close", (code, sig) => {
        o.signal.removeEventListener("abort", killGroup);
        if (code === 0) return resolve(Buffer.concat(out).toString("utf8"));
        if (o.signal.aborted) return reject(new GitError(`${o.what}: timed out`, "network"));
        if (size > maxOutput) return reject(new GitError(`${o.what}: output exceeds ${maxOutput} bytes`, "other"));
        reject(classify(o.what, redact(Buffer.concat(err).toString("utf8") || `git exited with ${code ?? sig}`)));
      });
    });
  }

  async lsRemote(url: string, signal: AbortSignal): Promise<string> {
    return this.run(["ls-remote", "--", url], { signal, what: `unable to list remote refs of '${redactUrl(url)}'` });
  }

  /** Fetches one ref (or commit) into a fresh repository at `dir` and checks it out; returns HEAD's sha. */
  async checkout(url: string, dir: string, target: { fetchRef?: string; commit?: string }, signal: AbortSignal, opts: CheckoutOptions = {}): Promise<string> {
    const what = `unable to fetch '${redactUrl(url)}'`;
    await this.run(["init", "-q", dir], { signal, what });
    const git = (args: string[]) => this.run(args, { cwd: dir, signal, what });
    // "origin" anchors relative submodule URLs; the fetches below still name the URL.
    if (opts.recurseSubmodules) await git(["remote", "add", "origin", url]);
    if (opts.sparse?.length) {
      await git(["config", "core.sparseCheckout", "true"]);
      await fs.promises.writeFile(path.join(dir, ".git", "info", "sparse-checkout"), opts.sparse.map((d) => `/${d.replace(/^\.?\/+|\/+$/g, "")}/\n`).join(""));
    }
    const sha = await this.checkoutTarget(url, git, target);
    if (opts.sparse?.length) {
      for (const d of opts.sparse) {
        const rel = d.replace(/^\.?\/+|\/+$/g, "");
        if (!fs.existsSync(path.join(dir, rel))) throw new GitError(`sparse checkout directory '${d}' does not exist in the checked out revision`, "notfound");
      }
    }
    if (opts.recurseSubmodules) {
      await git(["-c", "protocol.file.allow=never", "submodule", "update", "--init", "--recursive", "--recommend-shallow"]);
    }
    return sha;
  }

  /** The type of an object in a checked-out repository ("commit", "tag", …). */
  async objectType(dir: string, rev: string, signal: AbortSignal): Promise<string> {
    return (await this.run(["cat-file", "-t", rev], { cwd: dir, signal, what: "git cat-file" })).trim();
  }

  /**
   * Runs git in `dir` and returns its exit code with stdout and stderr (first 64 KiB each), never throwing on
   * a non-zero exit: for commands whose failure is an answer (verify-commit, verify-tag).
   */
  probe(args: string[], dir: string, signal: AbortSignal, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn("git", args, { cwd: dir, env: { ...this.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"], signal });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const keep = (list: Buffer[]) => (c: Buffer) => {
        if (list.reduce((n, b) => n + b.length, 0) < 65536) list.push(c);
      };
      child.stdout.on("data", keep(out));
      child.stderr.on("data", keep(err));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    });
  }

  private async checkoutTarget(url: string, git: (args: string[]) => Promise<string>, target: { fetchRef?: string; commit?: string }): Promise<string> {
    if (target.fetchRef && target.commit) {
      // A commit on a branch needs the branch's history, not only its tip.
      await git(["fetch", "-q", "--no-tags", "--", url, target.fetchRef]);
      try {
        await git(["merge-base", "--is-ancestor", target.commit, "FETCH_HEAD"]);
      } catch {
        throw new GitError(`commit '${target.commit}' not found on '${target.fetchRef.replace(/^refs\/heads\//, "")}'`, "notfound");
      }
      await git(["-c", "advice.detachedHead=false", "checkout", "-q", target.commit]);
    } else if (target.commit) {
      try {
        await git(["fetch", "-q", "--depth", "1", "--no-tags", "--", url, target.commit]);
      } catch (err) {
        if (err instanceof GitError && err.kind === "auth") throw err;
        // Servers that refuse unadvertised objects: fetch everything and look for it.
        await git(["fetch", "-q", "--no-tags", "--", url, "+refs/*:refs/remotes/origin/*"]);
      }
      try {
        await git(["-c", "advice.detachedHead=false", "checkout", "-q", target.commit]);
      } catch {
        throw new GitError(`commit '${target.commit}' not found`, "notfound");
      }
    } else if (target.fetchRef!.startsWith("refs/tags/")) {
      // The tag is kept as a local ref: its object (annotated, maybe signed) is what verification reads.
      await git(["fetch", "-q", "--depth", "1", "--no-tags", "--", url, `+${target.fetchRef}:${target.fetchRef}`]);
      await git(["-c", "advice.detachedHead=false", "checkout", "-q", `${target.fetchRef}^{commit}`]);
    } else {
      await git(["fetch", "-q", "--depth", "1", "--no-tags", "--", url, target.fetchRef!]);
      await git(["-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"]);
    }
    return (await git(["rev-parse", "HEAD"])).trim();
  }

  async commitSubject(dir: string, signal: AbortSignal): Promise<string> {
    return (await this.run(["log", "-1", "--format=%s"], { cwd: dir, signal, what: "git log" })).trim();
  }
}

export interface CheckoutOptions {
  /** Directories to check out (sparse checkout); the rest of the tree is left out. */
  sparse?: string[];
  /** Initialise and fetch the submodules, recursively. */
  recurseSubmodules?: boolean;
}

/** Quotes a word for the POSIX shell (GIT_SSH_COMMAND and ProxyCommand are run by a shell). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** Removes passwords from URLs and Authorization values from text. */
export function redact(text: string): string {
  return text
    .replace(/(\w+:\/\/)([^/@\s:]+):([^/@\s]+)@/g, "$1$2:***@")
    .replace(/(Authorization:\s*\w+\s+)\S+/gi, "$1***")
    .trim();
}

export function redactUrl(url: string): string {
  return redact(url);
}

const authPattern = /Authentication failed|could not read Username|could not read Password|Permission denied|HTTP 401|returned error: 40[13]|Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* is not known/i;

function classify(what: string, stderr: string): GitError {
  const lines = stderr
    .split("\n")
    .map((l) => l.replace(/^(fatal|error):\s*/, "").trim())
    .filter((l) => l && !/askpass/i.test(l));
  if (authPattern.test(stderr)) {
    const hostKey = /Host key verification failed|REMOTE HOST IDENTIFICATION|host key .* is not known/i.test(stderr);
    const why = hostKey ? "host key verification failed (check known_hosts)" : "authentication failed (check the credentials in secretRef)";
    const detail = lines.find((l) => authPattern.test(l)) ?? "";
    return new GitError(`${what}: ${why}${detail ? `: ${detail}` : ""}`, "auth");
  }
  const msg = `${what}: ${lines.slice(-3).join("; ")}`;
  if (/couldn't find remote ref|not our ref|unadvertised object|repository .* not found|does not appear to be a git repository/i.test(stderr)) return new GitError(msg, "notfound");
  if (/Could not resolve host|Connection refused|Connection timed out|Failed to connect|Network is unreachable|Operation timed out|Could not read from remote/i.test(stderr)) return new GitError(msg, "network");
  return new GitError(msg, "other");
}
