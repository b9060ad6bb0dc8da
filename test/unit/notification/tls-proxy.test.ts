// certSecretRef and proxySecretRef: a provider behind TLS signed by a private CA is reached with the CA from
// the Secret and refused without it; a proxy from the Secret carries the request (CONNECT for https, with
// its credentials), for http and https providers.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ensurePki } from "../../../local/pki";
import { request } from "../../../controllers/notification/providers/http";

async function tlsServer(): Promise<{ url: string; ca: string; hits: string[]; close: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-notify-tls-"));
  const pki = await ensurePki(dir, "10.0.0.1");
  const hits: string[] = [];
  const server = https.createServer({ cert: fs.readFileSync(pki.apiserver.cert), key: fs.readFileSync(pki.apiserver.key) }, (req, res) => {
    hits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => res.writeHead(200).end("{}"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    ca: fs.readFileSync(pki.ca.cert, "utf8"),
    hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A forward proxy: CONNECT tunnels and absolute-URI requests, requiring basic credentials. */
async function proxy(user: string, pass: string): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const expected = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
  const server = http.createServer((req, res) => {
    if (req.headers["proxy-authorization"] !== expected) return void res.writeHead(407).end();
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    const out = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    req.pipe(out);
  });
  const tunnels = new Set<net.Socket>();
  server.on("connect", (req: http.IncomingMessage, socket: net.Socket) => {
    tunnels.add(socket);
    socket.on("close", () => tunnels.delete(socket));
    if (req.headers["proxy-authorization"] !== expected) return void socket.end("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = req.url!.split(":");
    const up = net.connect(Number(port), host!, () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on("error", () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const close = () =>
    new Promise<void>((r) => {
      for (const s of tunnels) s.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen, close };
}

test("certSecretRef: the CA from the Secret makes a private-CA provider reachable; without it the request is refused", async () => {
  const srv = await tlsServer();
  try {
    await assert.rejects(request("POST", `${srv.url}/hook`, "{}", {}, { timeoutMs: 5_000 }), /request failed/);
    const res = await request("POST", `${srv.url}/hook`, "{}", {}, { timeoutMs: 5_000, tls: { ca: srv.ca } });
    assert.equal(res.status, 200);
    assert.deepEqual(srv.hits, ["POST /hook"]);
  } finally {
    await srv.close();
  }
});

test("proxySecretRef: https through CONNECT with the proxy's credentials and the CA; http as an absolute URI", async () => {
  const srv = await tlsServer();
  const px = await proxy("proxy-user", "proxy-pass");
  const plain = http.createServer((req, res) => (req.resume(), req.on("end", () => res.writeHead(200).end("{}"))));
  await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
  const plainUrl = `http://127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
  try {
    const viaProxy = { url: px.url, username: "proxy-user", password: "proxy-pass" };
    assert.equal((await request("POST", `${srv.url}/secure`, "{}", {}, { timeoutMs: 5_000, tls: { ca: srv.ca }, proxy: viaProxy })).status, 200);
    assert.equal((await request("POST", `${plainUrl}/plain`, "{}", {}, { timeoutMs: 5_000, proxy: viaProxy })).status, 200);
    assert.deepEqual(px.seen, [`CONNECT 127.0.0.1:${new URL(srv.url).port}`, `POST ${plainUrl}/plain`]);
    assert.deepEqual(srv.hits, ["POST /secure"]);
    await assert.rejects(request("POST", `${plainUrl}/plain`, "{}", {}, { timeoutMs: 5_000, proxy: { url: px.url, username: "x", password: "y" } }), /HTTP 407/);
  } finally {
    plain.closeAllConnections();
    plain.close();
    await px.close();
    await srv.close();
  }
});
