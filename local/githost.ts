// A local git host for the demo: `git http-backend` (smart HTTP) behind node:http on 127.0.0.1 with basic
// auth. Run as a detached process (`node dist/local/githost.js --root R --port P --user U --password-file F`),
// recorded in DIR/extra-processes.json so `mooring local down` stops it.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as path from "node:path";

export interface GitHostOptions {
  root: string;
  port: number;
  username: string;
  password: string;
}

function httpBackendPath(): string {
  try {
    return path.join(execFileSync("git", ["--exec-path"], { encoding: "utf8" }).trim(), "git-http-backend");
  } catch {
    return "/usr/lib/git-core/git-http-backend";
  }
}

export function serveGit(o: GitHostOptions): Promise<http.Server> {
  const backend = httpBackendPath();
  const expected = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString("base64")}`;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="mooring git"' }).end("unauthorized\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const cgi = spawn(backend, [], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: o.root,
        GIT_HTTP_EXPORT_ALL: "1",
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ""),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        REMOTE_USER: o.username,
        REMOTE_ADDR: req.socket.remoteAddress ?? "",
        GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
        HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"] ?? ""),
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const sep = head.indexOf("\r\n\r\n");
      if (sep < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, sep).toString("latin1").split("\r\n")) {
        const i = line.indexOf(":");
        if (i < 0) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === "status") status = Number(v.split(" ")[0]);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(sep + 4));
    });
    cgi.stdout.on("end", () => {
      if (!headersDone) res.writeHead(500);
      res.end();
    });
    cgi.on("error", () => res.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, "127.0.0.1", () => resolve(server));
  });
}

function flag(argv: string[], name: string): string {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? argv[i + 1] : undefined;
  if (!v) throw new Error(`githost: --${name} is required`);
  return v;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const password = readFileSync(flag(argv, "password-file"), "utf8").trim();
  serveGit({ root: flag(argv, "root"), port: Number(flag(argv, "port")), username: flag(argv, "user"), password }).then(
    () => process.stdout.write(`git host listening on 127.0.0.1:${flag(argv, "port")}\n`),
    (err: unknown) => {
      process.stderr.write(`githost: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
