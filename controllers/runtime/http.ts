// The manager's HTTP endpoints: /metrics on --metrics-addr, /healthz and /readyz on --health-addr.
import * as http from "node:http";
import type { Metrics } from "./metrics";

/** Parses ":8080", "0.0.0.0:8080", "127.0.0.1:0" or "[::1]:9090". */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid address "${addr}": want HOST:PORT or :PORT`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port: Number(m[3]) };
}

export async function listen(server: http.Server, addr: string): Promise<string> {
  const { host, port } = parseAddr(addr);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address();
  return typeof a === "object" && a ? `${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.port}` : addr;
}

export function metricsServer(metrics: Metrics): http.Server {
  return http.createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
}

export function healthServer(ready: () => boolean): http.Server {
  return http.createServer((req, res) => {
    if (req.url === "/healthz") res.writeHead(200).end("ok");
    else if (req.url === "/readyz") {
      const ok = ready();
      res.writeHead(ok ? 200 : 503).end(ok ? "ok" : "caches not synced");
    } else res.writeHead(404).end();
  });
}
