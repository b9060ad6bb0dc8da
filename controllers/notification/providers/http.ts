// One HTTP request to a provider: a deadline, optional TLS material (certSecretRef) and an optional HTTP
// proxy (CONNECT for https targets). Errors never hold the address: provider addresses often carry secrets.
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import * as net from "node:net";

export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface ProxySettings {
  url: string;
  username?: string;
  password?: string;
}

export interface RequestSettings {
  timeoutMs: number;
  tls?: TlsMaterial;
  proxy?: ProxySettings;
  signal?: AbortSignal;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** Refused answers: the provider said no; the message names the status, never the address. */
export class ProviderHttpError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(`HTTP ${status}${detail ? `: ${detail.slice(0, 200)}` : ""}`);
  }
}

const maxAnswer = 1 << 20;

function proxyAuth(p: ProxySettings): Record<string, string> {
  const u = new URL(p.url);
  const user = p.username ?? decodeURIComponent(u.username);
  const pass = p.password ?? decodeURIComponent(u.password);
  return user || pass ? { "proxy-authorization": `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` } : {};
}

/** Opens a TLS socket to target through the proxy's CONNECT. */
function tunnel(target: URL, p: ProxySettings, o: RequestSettings): Promise<tls.TLSSocket> {
  const proxy = new URL(p.url);
  const port = target.port || "443";
  return new Promise((resolve, reject) => {
    const req = (proxy.protocol === "https:" ? https : http).request({
      host: proxy.hostname,
      port: proxy.port || (proxy.protocol === "https:" ? 443 : 80),
      method: "CONNECT",
      path: `${target.hostname}:${port}`,
      headers: { host: `${target.hostname}:${port}`, ...proxyAuth(p) },
      signal: o.signal,
    });
    req.once("connect", (res, socket: net.Socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`proxy refused the tunnel: HTTP ${res.statusCode}`));
        return;
      }
      const host = target.hostname.replace(/^\[|\]$/g, "");
      const secure = tls.connect({ socket, ...(net.isIP(host) ? {} : { servername: host }), ca: o.tls?.ca, cert: o.tls?.cert, key: o.tls?.key });
      secure.once("secureConnect", () => resolve(secure));
      secure.once("error", reject);
    });
    req.once("error", reject);
    req.end();
  });
}

/** Sends one request; resolves with a 2xx answer, rejects with ProviderHttpError or a transport error. */
export async function request(method: string, address: string, body: string | undefined, headers: Record<string, string>, o: RequestSettings): Promise<HttpResult> {
  let target: URL;
  try {
    target = new URL(address);
  } catch {
    throw new Error("the address is not a URL");
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") throw new Error("the address must be an http:// or https:// URL");
  const signal = AbortSignal.any([AbortSignal.timeout(o.timeoutMs), ...(o.signal ? [o.signal] : [])]);
  const payload = body === undefined ? undefined : Buffer.from(body);
  const allHeaders: Record<string, string | number> = { "user-agent": "mooring-notification-controller", ...headers, ...(payload ? { "content-length": payload.length } : {}) };
  if (target.username || target.password) {
    allHeaders.authorization ??= `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString("base64")}`;
  }
  let options: https.RequestOptions;
  const secure = target.protocol === "https:";
  const path = `${target.pathname}${target.search}`;
  if (o.proxy && secure) {
    const socket = await tunnel(target, o.proxy, { ...o, signal });
    // The TLS tunnel is the connection: plain HTTP is spoken over it, without an agent (which would open its own).
    options = { createConnection: () => socket, host: target.hostname, path, method, headers: { host: target.host, connection: "close", ...allHeaders } } as https.RequestOptions;
    signal.addEventListener("abort", () => socket.destroy(), { once: true });
  } else if (o.proxy) {
    const proxy = new URL(o.proxy.url);
    const plain = new URL(target.toString());
    plain.username = "";
    plain.password = "";
    options = { host: proxy.hostname, port: proxy.port || 80, path: plain.toString(), method, headers: { host: target.host, ...allHeaders, ...proxyAuth(o.proxy) } };
  } else {
    options = { host: target.hostname, port: target.port || (secure ? 443 : 80), path, method, headers: allHeaders, ca: o.tls?.ca, cert: o.tls?.cert, key: o.tls?.key };
  }
  const mod = secure && !o.proxy ? https : http;
  return new Promise<HttpResult>((resolve, reject) => {
    const req = mod.request({ ...options, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= maxAnswer) chunks.push(c);
      });
      res.on("end", () => {
        // A tunnel serves one request.
        if (o.proxy && secure) res.socket?.destroy();
        const text = Buffer.concat(chunks).toString();
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve({ status, body: text });
        else reject(new ProviderHttpError(status, text.replace(/\s+/g, " ").trim()));
      });
      res.on("error", reject);
    });
    req.on("error", (err: NodeJS.ErrnoException) => reject(new Error(signal.aborted ? `request timed out after ${o.timeoutMs} ms` : `request failed: ${err.code ?? "connection error"}`)));
    if (payload) req.write(payload);
    req.end();
  });
}

export function postJSON(address: string, doc: unknown, headers: Record<string, string>, o: RequestSettings): Promise<HttpResult> {
  return request("POST", address, JSON.stringify(doc), { "content-type": "application/json", ...headers }, o);
}
