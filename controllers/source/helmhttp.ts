// HTTP(S) downloads for Helm repositories (index.yaml, chart archives): basic auth sent only to the
// repository's own host unless passCredentials, client certificates and CA from the secrets, redirects
// followed, a size limit enforced while reading, and errors that name the address without credentials.
import * as http from "node:http";
import * as https from "node:https";

export interface HelmHttpAuth {
  username?: string;
  password?: string;
  /** PEM CA bundle trusted in addition to nothing else (replaces the system roots, as Helm's TLS config does). */
  ca?: string;
  cert?: string;
  key?: string;
}

export interface HelmGetOptions {
  auth: HelmHttpAuth;
  /** Origin ("scheme://host:port") of the repository URL: the only one basic auth goes to unless passCredentials. */
  repoOrigin: string;
  passCredentials?: boolean;
  maxBytes: number;
  signal: AbortSignal;
  userAgent?: string;
}

export type HelmHttpErrorKind = "status" | "size" | "network";

export class HelmHttpError extends Error {
  constructor(
    readonly kind: HelmHttpErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "HelmHttpError";
  }
}

const maxRedirects = 10;

/** "scheme://host/path" without userinfo, query or fragment: safe to show. */
export function displayUrl(raw: string | URL): string {
  try {
    const u = new URL(raw.toString());
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "<invalid URL>";
  }
}

/** Whether basic auth may be sent to `target`: the repository's scheme and host, or anywhere with passCredentials (as Helm's getter decides). */
export function sendsCredentials(target: URL, repoOrigin: string, passCredentials = false): boolean {
  return passCredentials || target.origin === repoOrigin;
}

/** GETs `url` following redirects; resolves with the whole body, or rejects with a HelmHttpError. */
export async function helmGet(url: string, o: HelmGetOptions): Promise<Buffer> {
  let target = new URL(url);
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const res = await request(target, o);
    if (res.redirect) {
      target = new URL(res.redirect, target);
      continue;
    }
    return res.body!;
  }
  throw new HelmHttpError("network", `failed to fetch ${displayUrl(url)} : more than ${maxRedirects} redirects`);
}

function request(target: URL, o: HelmGetOptions): Promise<{ redirect?: string; body?: Buffer }> {
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    return Promise.reject(new HelmHttpError("network", `failed to fetch ${displayUrl(target)} : scheme must be http or https`));
  }
  const headers: Record<string, string> = { "user-agent": o.userAgent ?? "mooring-source-controller", accept: "*/*" };
  const user = o.auth.username ?? (target.username ? decodeURIComponent(target.username) : undefined);
  const pass = o.auth.password ?? (target.password ? decodeURIComponent(target.password) : undefined);
  if (user !== undefined && sendsCredentials(target, o.repoOrigin, o.passCredentials)) {
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass ?? ""}`).toString("base64")}`;
  }
  const shown = displayUrl(target);
  const options: https.RequestOptions = {
    method: "GET",
    hostname: target.hostname.replace(/^\[|\]$/g, ""),
    port: target.port || undefined,
    path: `${target.pathname}${target.search}`,
    headers,
    signal: o.signal,
    ...(target.protocol === "https:" ? { ca: o.auth.ca, cert: o.auth.cert, key: o.auth.key, agent: false } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = (target.protocol === "https:" ? https : http).request(options, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        resolve({ redirect: res.headers.location });
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new HelmHttpError("status", `failed to fetch ${shown} : ${status} ${http.STATUS_CODES[status] ?? ""}`.trimEnd(), status));
        return;
      }
      const declared = Number(res.headers["content-length"] ?? NaN);
      if (declared > o.maxBytes) {
        res.destroy();
        reject(new HelmHttpError("size", `${shown} is ${declared} bytes, over the limit of ${o.maxBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > o.maxBytes) {
          res.destroy();
          reject(new HelmHttpError("size", `${shown} is over the limit of ${o.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => resolve({ body: Buffer.concat(chunks) }));
      res.on("error", (err) => reject(new HelmHttpError("network", `failed to fetch ${shown} : ${err.message}`)));
    });
    req.on("error", (err) => {
      const detail = o.signal.aborted ? "timed out" : err.message;
      reject(new HelmHttpError("network", `failed to fetch ${shown} : ${detail}`));
    });
    req.end();
  });
}
