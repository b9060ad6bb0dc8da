// The example fleet's app: a small HTTP server that shows a message from its environment. Built into the
// demo app image (`mooring image build --demo-app`) as one file that needs nothing but Node.js itself.
//
//   GET /          an HTML page with $UI_MESSAGE, the pod's name and the app version
//   GET /healthz   200 "ok" (liveness)       GET /readyz  200 "ok" (readiness; 503 while shutting down)
//   GET /version   {"version": "..."}
// Listens on $PORT (default 9898). SIGTERM: stop accepting, finish open requests, exit 0.
import * as http from "node:http";
import * as os from "node:os";

export const demoAppVersion = "1.0.0";
export const demoAppPort = 9898;

export interface DemoAppOptions {
  message: string;
  hostname: string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** The page at `/`. */
export function renderPage(o: DemoAppOptions): string {
  return [
    "<!doctype html>",
    `<html><head><meta charset="utf-8"><title>Mooring demo app</title></head>`,
    `<body><h1>${escapeHtml(o.message)}</h1>`,
    `<p>served by ${escapeHtml(o.hostname)}, demo app ${demoAppVersion}</p></body></html>`,
    "",
  ].join("\n");
}

/** The request handler; `ready()` is false once shutdown began. */
export function demoAppHandler(o: DemoAppOptions, ready: () => boolean): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    switch (url.pathname) {
      case "/":
        return send(200, "text/html; charset=utf-8", renderPage(o));
      case "/healthz":
        return send(200, "text/plain", "ok\n");
      case "/readyz":
        return ready() ? send(200, "text/plain", "ok\n") : send(503, "text/plain", "shutting down\n");
      case "/version":
        return send(200, "application/json", JSON.stringify({ version: demoAppVersion }) + "\n");
      default:
        return send(404, "text/plain", "not found\n");
    }
  };
}

function main(): void {
  const port = Number(process.env.PORT ?? demoAppPort);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`demo app: PORT must be a port number, got "${process.env.PORT}"\n`);
    process.exit(2);
  }
  let ready = true;
  const options = { message: process.env.UI_MESSAGE || "hello from Mooring", hostname: os.hostname() };
  const server = http.createServer(demoAppHandler(options, () => ready));
  server.listen(port, () => process.stdout.write(JSON.stringify({ level: "info", msg: "listening", port }) + "\n"));
  const stop = () => {
    ready = false;
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (require.main === module) main();
