// A small S3 client for the Bucket source: ListObjectsV2 (paginated) and GetObject, path-style addressing,
// SigV4-signed with static keys (anonymous without), over HTTP or HTTPS with a custom CA and client
// certificate, optionally through an HTTP proxy (CONNECT for HTTPS). Every request has the caller's
// AbortSignal; errors name the bucket and key, never a credential.
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { authorization, emptyPayloadHash, uriEncode, amzDate, type Credentials } from "./sigv4";
import { parseListObjectsV2, parseS3Error, trimEtag, type ListedObject } from "./bucketindex";

export interface S3ClientOptions {
  /** "host[:port]" */
  endpoint: string;
  insecure?: boolean;
  region?: string;
  credentials?: Credentials;
  tls?: { ca?: string; cert?: string; key?: string };
  proxy?: URL;
  signal: AbortSignal;
}

export type S3ErrorKind = "auth" | "not-found" | "bucket-not-found" | "too-large" | "network" | "status";

export class S3Error extends Error {
  constructor(
    readonly kind: S3ErrorKind,
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = "S3Error";
  }
}

const authCodes = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed"]);

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: NodeJS.ReadableStream & { destroy(err?: Error): void; resume(): void };
}

export class S3Client {
  private readonly region: string;
  private readonly base: URL;

  constructor(private readonly o: S3ClientOptions) {
    if (!o.endpoint || /^[a-z][a-z0-9+.-]*:\/\//i.test(o.endpoint) || /[/?#\s]/.test(o.endpoint)) {
      throw new S3Error("status", `invalid endpoint '${o.endpoint}': want 'host' or 'host:port' without a scheme or path`);
    }
    this.base = new URL(`${o.insecure ? "http" : "https"}://${o.endpoint}`);
    this.region = o.region || "us-east-1";
  }

  /** Every object under the prefix, following continuation tokens. */
  async listObjects(bucket: string, prefix: string | undefined, visit: (o: ListedObject) => void): Promise<void> {
    let token: string | undefined;
    for (;;) {
      const query: Record<string, string> = { "list-type": "2", "max-keys": "1000" };
      if (prefix) query.prefix = prefix;
      if (token) query["continuation-token"] = token;
      const res = await this.request("GET", `/${uriEncode(bucket)}/`, query);
      const body = await readBody(res, 64 << 20);
      if (res.status !== 200) throw this.failure(res.status, body, `list objects of bucket '${bucket}'`, bucket);
      const page = parseListObjectsV2(body.toString("utf8"));
      for (const o of page.objects) visit(o);
      if (!page.truncated) return;
      if (!page.nextContinuationToken) throw new S3Error("status", `list objects of bucket '${bucket}': truncated response without a continuation token`);
      token = page.nextContinuationToken;
    }
  }

  /** Downloads one object to `file`, refusing more than `maxBytes`; resolves with its ETag. */
  async getObject(bucket: string, key: string, file: string, maxBytes: number): Promise<string> {
    const res = await this.request("GET", `/${uriEncode(bucket)}/${uriEncode(key, false)}`);
    if (res.status !== 200) {
      const body = await readBody(res, 1 << 20);
      throw this.failure(res.status, body, `get object '${key}' of bucket '${bucket}'`, bucket);
    }
    const declared = Number(res.headers["content-length"] ?? NaN);
    if (declared > maxBytes) {
      res.body.destroy();
      throw new S3Error("too-large", `object '${key}' is ${declared} bytes, over the limit of ${maxBytes} bytes`);
    }
    await new Promise<void>((resolve, reject) => {
      const out = fs.createWriteStream(file, { mode: 0o644 });
      let size = 0;
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        res.body.destroy();
        out.destroy();
        reject(err);
      };
      res.body.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) fail(new S3Error("too-large", `object '${key}' is over the limit of ${maxBytes} bytes`));
        else if (!out.write(chunk)) {
          (res.body as unknown as { pause(): void }).pause();
          out.once("drain", () => (res.body as unknown as { resume(): void }).resume());
        }
      });
      res.body.on("error", (err: Error) => fail(new S3Error("network", `get object '${key}' of bucket '${bucket}': ${this.o.signal.aborted ? "timed out" : err.message}`)));
      res.body.on("end", () => {
        if (!failed) out.end(() => resolve());
      });
      out.on("error", (err) => fail(err));
    });
    return trimEtag(String(res.headers.etag ?? ""));
  }

  private failure(status: number, body: Buffer, what: string, bucket: string): S3Error {
    const err = parseS3Error(body.toString("utf8"));
    const code = err?.code ?? "";
    if (code === "NoSuchBucket") return new S3Error("bucket-not-found", `bucket '${bucket}' not found`, status, code);
    if (code === "NoSuchKey" || (status === 404 && !code)) return new S3Error("not-found", `${what}: not found`, status, code);
    if (authCodes.has(code) || status === 403 || status === 401) {
      // The server's message may quote the access key or the string to sign: keep only the code.
      return new S3Error("auth", `${what}: access denied (${code || `HTTP ${status}`}); check the access key and secret key in the Secret`, status, code);
    }
    return new S3Error("status", `${what}: ${code ? `${code}: ${err?.message ?? ""}`.trim() : `HTTP ${status}`}`, status, code);
  }

  private async request(method: string, pathname: string, query?: Record<string, string>): Promise<Response> {
    const date = new Date();
    const headers: Record<string, string> = { host: this.base.host, "x-amz-date": amzDate(date), "x-amz-content-sha256": emptyPayloadHash };
    const creds = this.o.credentials;
    if (creds?.sessionToken) headers["x-amz-security-token"] = creds.sessionToken;
    if (creds) {
      headers.authorization = authorization({ method, path: pathname, query, headers: { ...headers }, payloadHash: emptyPayloadHash, region: this.region, service: "s3", date }, creds);
    }
    const search = query ? "?" + Object.entries(query).map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join("&") : "";
    const target = `${this.base.protocol}//${this.base.host}${pathname}${search}`;
    const secure = this.base.protocol === "https:";
    const port = Number(this.base.port || (secure ? 443 : 80));
    const hostname = this.base.hostname.replace(/^\[|\]$/g, "");
    let options: https.RequestOptions = { method, hostname, port, path: pathname + search, headers, signal: this.o.signal, agent: false };
    if (secure) options = { ...options, ca: this.o.tls?.ca, cert: this.o.tls?.cert, key: this.o.tls?.key, servername: net.isIP(hostname) ? undefined : hostname };
    const proxy = this.o.proxy;
    if (proxy) {
      const proxyAuth = proxy.username ? `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString("base64")}` : undefined;
      if (secure) {
        const socket = await this.connectTunnel(proxy, hostname, port, proxyAuth);
        options = { ...options, createConnection: () => tls.connect({ socket, servername: options.servername, ca: options.ca, cert: options.cert, key: options.key }) } as https.RequestOptions;
      } else {
        options = { ...options, hostname: proxy.hostname.replace(/^\[|\]$/g, ""), port: Number(proxy.port || 80), path: target, headers: { ...headers, ...(proxyAuth ? { "proxy-authorization": proxyAuth } : {}) } };
      }
    }
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(options, (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }));
      req.on("error", (err) => reject(new S3Error("network", `request to ${this.base.protocol}//${this.base.host} failed: ${this.o.signal.aborted ? "timed out" : err.message}`)));
      req.end();
    });
  }

  private connectTunnel(proxy: URL, host: string, port: number, auth: string | undefined): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        method: "CONNECT",
        hostname: proxy.hostname.replace(/^\[|\]$/g, ""),
        port: Number(proxy.port || 80),
        path: `${host.includes(":") ? `[${host}]` : host}:${port}`,
        headers: auth ? { "proxy-authorization": auth } : {},
        signal: this.o.signal,
        agent: false,
      });
      req.on("connect", (res, socket) => {
        if (res.statusCode !== 200) {
          socket.destroy();
          reject(new S3Error("network", `proxy ${proxy.host} refused the tunnel to ${host}:${port}: HTTP ${res.statusCode}`));
          return;
        }
        resolve(socket);
      });
      req.on("error", (err) => reject(new S3Error("network", `proxy ${proxy.host} could not be reached: ${err.message}`)));
      req.end();
    });
  }
}

function readBody(res: Response, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.body.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        res.body.destroy();
        reject(new S3Error("too-large", `response is over ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.body.on("end", () => resolve(Buffer.concat(chunks)));
    res.body.on("error", (err: Error) => reject(new S3Error("network", err.message)));
  });
}
