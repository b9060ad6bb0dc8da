// A git host: `git http-backend` (smart HTTP, CGI) behind node:http, with optional basic auth. It binds
// 127.0.0.1 unless given another address of this machine, e.g. the local cluster's node address, where
// pods reach it. The demo runs it as a detached process (`node dist/local/githost.js --root R --port P
// --user U --password-file F [--host ADDR]`), recorded in DIR/extra-processes.json so `mooring local down`
// stops it; tests and benchmarks serve repositories with the same handler in-process.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP, type AddressInfo } from "node:net";
import { join } from "node:path";

/** Decides whether a request may proceed; returns the user name to run receive-pack as, or undefined. */
export type GitHttpAuthorizer = (authorization: string | undefined, repoPath: string) => string | undefined;

export interface GitHttpBackendOptions {
  /** Directory holding bare repositories, e.g. `<root>/acme/fleet.git`. */
  root: string;
  /** URL prefix the repositories are served under. Default "" (so `/acme/fleet.git/...`). */
  prefix?: string;
  /** When given, a request without a user is answered 401 with a Basic challenge. */
  authorize?: GitHttpAuthorizer;
  /** Called with "METHOD /path?query" for every request (tests assert on what clients did). */
  onRequest?: (line: string) => void;
  /** Runs before each push is handed to git (tests use it to move the branch under a pusher's feet). */
  beforeReceivePack?: (repoPath: string) => Promise<void> | void;
}

const httpBackend = (() => {
  try {
    return join(execFileSync("git", ["--exec-path"], { encoding: "utf8" }).trim(), "git-http-backend");
  } catch {
    return "/usr/lib/git-core/git-http-backend";
  }
})();

/** Basic-auth authorizer for one user and password. */
export function basicAuth(username: string, password: string): GitHttpAuthorizer {
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  return (header) => (header === expected ? username : undefined);
}

/** Create a bare repository under root (`owner/name.git`), pushes allowed; returns its path. */
export function createBareRepository(root: string, relative: string, defaultBranch = "main"): string {
  const path = join(root, relative);
  mkdirSync(path, { recursive: true });
  execFileSync("git", ["init", "-q", "--bare", `--initial-branch=${defaultBranch}`, path]);
  execFileSync("git", ["-C", path, "config", "http.receivepack", "true"]);
  return path;
}

/** Handle a request when it is a git smart-HTTP request; returns false when the path is not ours. */
export function handleGitRequest(options: GitHttpBackendOptions, req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? "/", "http://localhost");
  options.onRequest?.(`${req.method} ${url.pathname}${url.search}`);
  const hook = options.beforeReceivePack;
  if (hook && req.method === "POST" && url.pathname.endsWith("/git-receive-pack")) {
    const repoPath = join(options.root, url.pathname.slice((options.prefix ?? "").length).replace(/\/git-receive-pack$/, ""));
    req.pause();
    Promise.resolve(hook(repoPath)).then(
      () => runBackend(options, req, res, url),
      (err: unknown) => res.writeHead(500).end(`beforeReceivePack failed: ${String(err)}\n`),
    );
    return true;
  }
  return runBackend(options, req, res, url);
}

function runBackend(options: GitHttpBackendOptions, req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  const prefix = options.prefix ?? "";
  if (!url.pathname.startsWith(`${prefix}/`) || !/\.git\/(info\/refs|git-upload-pack|git-receive-pack|HEAD)$/.test(url.pathname)) return false;
  const pathInfo = url.pathname.slice(prefix.length);
  let user: string | undefined;
  if (options.authorize) {
    user = options.authorize(req.headers.authorization, pathInfo);
    if (user === undefined) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"', "Content-Type": "text/plain" });
      res.end("Authentication required\n");
      return true;
    }
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: options.root,
    GIT_HTTP_EXPORT_ALL: "1",
    GIT_CONFIG_NOSYSTEM: "1",
    HOME: options.root,
    PATH_INFO: pathInfo,
    REQUEST_METHOD: req.method ?? "GET",
    QUERY_STRING: url.search.replace(/^\?/, ""),
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
    REMOTE_USER: user ?? "anonymous",
    GIT_HTTP_MAX_REQUEST_BUFFER: "100M",
  };
  if (req.headers["content-encoding"]) env.HTTP_CONTENT_ENCODING = String(req.headers["content-encoding"]);
  if (req.headers["git-protocol"]) env.GIT_PROTOCOL = String(req.headers["git-protocol"]);
  if (req.headers["content-length"]) env.CONTENT_LENGTH = String(req.headers["content-length"]);
  const cgi = spawn(httpBackend, [], { env, stdio: ["pipe", "pipe", "pipe"] });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  cgi.stdout.on("data", (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const text = head.toString("latin1");
    const end = text.search(/\r?\n\r?\n/);
    if (end < 0) return;
    const separator = text.slice(end).startsWith("\r\n\r\n") ? 4 : text.slice(end).startsWith("\r\n\n") ? 3 : text.slice(end).startsWith("\n\r\n") ? 3 : 2;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of text.slice(0, end).split(/\r?\n/)) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    headersDone = true;
    res.write(head.subarray(end + separator));
  });
  cgi.stderr.resume();
  cgi.on("close", () => {
    if (!headersDone) res.writeHead(500).end("git http-backend produced no response\n");
    else res.end();
  });
  return true;
}

/** Where a git host listens: an IP address of this machine. Default 127.0.0.1. */
export const defaultGitHostAddress = "127.0.0.1";

function checkHost(host: string): string {
  if (isIP(host) === 0) throw new Error(`git host: bind address "${host}" must be an IP address of this machine (e.g. 127.0.0.1, or the node address \`mooring local up\` prints)`);
  return host;
}

/** The address clients use: the bound one, or loopback for a wildcard bind. */
function urlHost(host: string): string {
  if (host === "0.0.0.0") return defaultGitHostAddress;
  if (host === "::") return "[::1]";
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** Listens, turning a bind failure into an error that names the address and what to check. */
function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = err.code === "EADDRNOTAVAIL" ? ` (${host} is not an address of this machine; is the local cluster up?)` : err.code === "EADDRINUSE" ? " (the port is taken; choose another or 0)" : "";
      reject(new Error(`git host: cannot listen on ${urlHost(host)}:${port}: ${err.code ?? err.message}${hint}`));
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

export interface GitHttpServerOptions extends GitHttpBackendOptions {
  /** Address to bind. Default 127.0.0.1; the local cluster's node address lets pods reach it. */
  host?: string;
}

export interface RunningGitHttpServer {
  /** Base URL, e.g. `http://127.0.0.1:34567`; a repository is `${url}/acme/fleet.git`. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serve every bare repository under root over smart HTTP on a free port of `host` (default loopback). */
export async function startGitHttpServer(options: GitHttpServerOptions): Promise<RunningGitHttpServer> {
  const host = checkHost(options.host ?? defaultGitHostAddress);
  const server = createServer((req, res) => {
    if (!handleGitRequest(options, req, res)) res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
  });
  await listenOn(server, 0, host);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${urlHost(host)}:${port}${options.prefix ?? ""}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface GitHostOptions {
  root: string;
  port: number;
  username: string;
  password: string;
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
}

/** Serve every repository under root on a fixed port of `host` (default loopback) with one basic-auth user. */
export async function serveGit(o: GitHostOptions): Promise<Server> {
  const host = checkHost(o.host ?? defaultGitHostAddress);
  const options: GitHttpBackendOptions = { root: o.root, authorize: basicAuth(o.username, o.password) };
  const server = createServer((req, res) => {
    if (!handleGitRequest(options, req, res)) res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
  });
  await listenOn(server, o.port, host);
  return server;
}

function flag(argv: string[], name: string, fallback?: string): string {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? argv[i + 1] : fallback;
  if (!v) throw new Error(`githost: --${name} is required`);
  return v;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const password = readFileSync(flag(argv, "password-file"), "utf8").trim();
  const host = flag(argv, "host", defaultGitHostAddress);
  serveGit({ root: flag(argv, "root"), port: Number(flag(argv, "port")), username: flag(argv, "user"), password, host }).then(
    (server) => process.stdout.write(`git host listening on ${urlHost(host)}:${(server.address() as AddressInfo).port}\n`),
    (err: unknown) => {
      process.stderr.write(`githost: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
