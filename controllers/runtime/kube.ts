// A small Kubernetes REST client over node:http(s): every call has a timeout and an AbortSignal,
// and watches are async iterables. Authentication comes from @kubernetes/client-node's KubeConfig.
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import * as fs from "node:fs";
import { TokenBucket } from "./ratelimit";
import type { KubeObject, ResourceRef } from "../api/meta";
import { credentialsFromKubeconfig, inClusterCredentials, StaticKubeConfig, type ClusterConfig } from "./kubeconfig";

export type { KubeObject, ObjectMeta, ResourceRef } from "../api/meta";

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion: string; continue?: string };
}

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.status === 409;
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.status === 410;

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const defaultTimeoutMs = 30_000;

/**
 * Resolves the cluster configuration from --kubeconfig, then KUBECONFIG, then the in-cluster ServiceAccount
 * files. Uses client-node's KubeConfig only for users it alone supports (exec plugins, auth providers).
 */
export async function loadKubeConfig(explicitPath?: string): Promise<ClusterConfig> {
  const file = explicitPath ?? process.env.KUBECONFIG;
  if (file) {
    const creds = credentialsFromKubeconfig(fs.readFileSync(file, "utf8"), file);
    if (creds) return new StaticKubeConfig(creds);
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    return kc;
  }
  if (fs.existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")) return new StaticKubeConfig(inClusterCredentials());
  throw new Error("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a pod with a ServiceAccount token");
}

export function resourcePath(ref: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  let p = ref.group === "" ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  if (ref.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${ref.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

export interface KubeClientOptions {
  /** Client-side limit: requests per second on average (Flux's --kube-api-qps). Unlimited when unset. */
  qps?: number;
  /** Requests allowed at once above the average (--kube-api-burst; default: qps rounded up). */
  burst?: number;
}

export class KubeClient {
  private readonly server: URL;
  /** The server's host and port, and its URL's path prefix without a trailing slash. */
  private readonly base: { hostname: string; port: string; prefix: string };
  private readonly limiter: TokenBucket | undefined;
  /** The connection pool, made again only when the TLS material the config hands out changes. */
  private pool: { agent: http.Agent; tls: TlsMaterial } | undefined;

  constructor(
    private readonly kc: ClusterConfig,
    o: KubeClientOptions = {},
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.server = new URL(cluster.server);
    this.base = { hostname: this.server.hostname.replace(/^\[|\]$/g, ""), port: this.server.port, prefix: this.server.pathname.replace(/\/$/, "") };
    this.limiter = o.qps ? new TokenBucket(o.qps, o.burst ?? Math.ceil(o.qps)) : undefined;
  }

  /**
   * The agent for these TLS options. Its TLS context is made once and handed to every connection, so a request
   * neither carries the certificates (which the agent would otherwise turn into its pool key each time) nor
   * builds a context per new connection.
   */
  private agentFor(opts: https.RequestOptions): http.Agent {
    const tlsNow = tlsMaterial(opts);
    if (this.pool && sameTls(this.pool.tls, tlsNow)) return this.pool.agent;
    // New credentials: the old pool's idle connections go; requests and watches running on it finish.
    if (this.pool) for (const sockets of Object.values(this.pool.agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    const agent =
      this.server.protocol === "https:"
        ? new https.Agent({
            keepAlive: true,
            secureContext: tls.createSecureContext({ ca: tlsNow.ca, cert: tlsNow.cert, key: tlsNow.key }),
            rejectUnauthorized: tlsNow.rejectUnauthorized,
            servername: tlsNow.servername,
          })
        : new http.Agent({ keepAlive: true });
    this.pool = { agent, tls: tlsNow };
    return agent;
  }

  private pathWithQuery(path: string, query?: RequestOptions["query"]): string {
    let q = "";
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q += `${q ? "&" : "?"}${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`;
    return this.base.prefix + path + q;
  }

  /**
   * Sends a request and resolves with the response head. A request (not a stream) runs under a deadline that
   * lasts until release() is called, after its body was read.
   */
  private async open(method: string, path: string, o: RequestOptions, stream: boolean): Promise<{ res: http.IncomingMessage; release: () => void }> {
    if (this.limiter) await this.limiter.take(o.signal);
    // Credentials are (re)applied per call, so rotated tokens are used.
    const base: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(base);
    const agent = this.agentFor(base);
    const payload = o.body === undefined ? undefined : Buffer.from(typeof o.body === "string" ? o.body : JSON.stringify(o.body));
    const mod = this.server.protocol === "https:" ? https : http;
    const headers: Record<string, string | number> = { ...(base.headers as Record<string, string>), accept: "application/json" };
    if (payload) {
      headers["content-type"] = o.contentType ?? "application/json";
      headers["content-length"] = payload.length;
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const release = () => clearTimeout(timer);
      let response: http.IncomingMessage | undefined;
      const req = mod.request({ agent, hostname: this.base.hostname, port: this.base.port, path: this.pathWithQuery(path, o.query), method, headers, signal: o.signal }, (res) => {
        response = res;
        resolve({ res, release });
      });
      if (!stream) {
        const ms = o.timeoutMs ?? defaultTimeoutMs;
        timer = setTimeout(() => {
          const err = new Error(`${method} ${path}: timed out after ${ms / 1000} s`);
          if (response) response.destroy(err);
          else req.destroy(err);
        }, ms);
        timer.unref();
      }
      req.on("error", (err) => {
        release();
        reject(err);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const text = await this.text(method, path, o);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The response body as text (e.g. GET /metrics); non-2xx answers are thrown as ApiErrors. */
  async text(method: string, path: string, o: RequestOptions = {}): Promise<string> {
    return (await this.send(method, path, o)).text;
  }

  /** The response's status code and body; non-2xx answers are thrown as ApiErrors. */
  async send(method: string, path: string, o: RequestOptions = {}): Promise<{ status: number; text: string }> {
    const { res, release } = await this.open(method, path, o, false);
    let text: string;
    try {
      text = await readBody(res);
    } finally {
      release();
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw toApiError(status, text, `${method} ${path}`);
    return { status, text };
  }

  /** Server-side apply of obj as fieldManager (forcing conflicts); `created` tells whether it did not exist. */
  async apply<T>(ref: ResourceRef, obj: KubeObject, fieldManager: string, o: RequestOptions & { dryRun?: boolean } = {}): Promise<{ object: T; created: boolean }> {
    const { status, text } = await this.send("PATCH", resourcePath(ref, obj.metadata.namespace, obj.metadata.name), {
      ...o,
      body: obj,
      contentType: "application/apply-patch+yaml",
      query: { ...o.query, fieldManager, force: true, dryRun: o.dryRun ? "All" : undefined },
    });
    return { object: JSON.parse(text) as T, created: status === 201 };
  }

  get<T>(ref: ResourceRef, namespace: string | undefined, name: string, o: RequestOptions = {}): Promise<T> {
    return this.request<T>("GET", resourcePath(ref, namespace, name), o);
  }

  list<T>(ref: ResourceRef, namespace?: string, o: RequestOptions = {}): Promise<ListResult<T>> {
    return this.request<ListResult<T>>("GET", resourcePath(ref, namespace), o);
  }

  create<T>(ref: ResourceRef, namespace: string | undefined, body: unknown, o: RequestOptions = {}): Promise<T> {
    return this.request<T>("POST", resourcePath(ref, namespace), { ...o, body });
  }

  replace<T>(ref: ResourceRef, namespace: string | undefined, name: string, body: unknown, o: RequestOptions = {}): Promise<T> {
    return this.request<T>("PUT", resourcePath(ref, namespace, name), { ...o, body });
  }

  /** JSON merge patch (or another patch type via contentType) of the object or one of its subresources. */
  patch<T>(ref: ResourceRef, namespace: string | undefined, name: string, body: unknown, o: RequestOptions & { subresource?: string } = {}): Promise<T> {
    return this.request<T>("PATCH", resourcePath(ref, namespace, name, o.subresource), {
      ...o,
      body,
      contentType: o.contentType ?? "application/merge-patch+json",
    });
  }

  delete(ref: ResourceRef, namespace: string | undefined, name: string, o: RequestOptions = {}): Promise<unknown> {
    return this.request("DELETE", resourcePath(ref, namespace, name), o);
  }

  /**
   * Streams watch events until the server closes the stream or the signal aborts. An ERROR event carrying a
   * Status (e.g. 410 Expired) is thrown as an ApiError so callers can re-list.
   */
  async *watch<T>(
    ref: ResourceRef,
    namespace: string | undefined,
    resourceVersion: string,
    signal: AbortSignal,
    timeoutSeconds = 300,
    /** Extra query parameters, e.g. { labelSelector } for a filtered watch. */
    extraQuery: RequestOptions["query"] = {},
  ): AsyncGenerator<WatchEvent<T>> {
    const { res } = await this.open("GET", resourcePath(ref, namespace), {
      signal,
      query: { ...extraQuery, watch: true, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
    }, true);
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw toApiError(status, Buffer.concat(chunks).toString("utf8"), `watch ${ref.plural}`);
    }
    let buffered = "";
    try {
      for await (const chunk of res) {
        buffered += (chunk as Buffer).toString("utf8");
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line) as WatchEvent<T>;
          if (ev.type === "ERROR") {
            const st = ev.object as unknown as { code?: number; reason?: string; message?: string };
            throw new ApiError(st.code ?? 500, st.reason ?? "Unknown", st.message ?? "watch error");
          }
          yield ev;
        }
      }
    } finally {
      res.destroy();
    }
  }
}

/** The whole body of a response as UTF-8; rejects when the connection ends or fails before the body does. */
function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("error", reject);
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("close", () => {
      if (!res.complete) reject(new Error("the connection closed before the response ended"));
    });
  });
}

type Pem = string | Buffer | (string | Buffer)[] | undefined;

interface TlsMaterial {
  ca: Pem;
  cert: Pem;
  key: Pem;
  rejectUnauthorized: boolean | undefined;
  servername: string | undefined;
}

function tlsMaterial(o: https.RequestOptions): TlsMaterial {
  return { ca: o.ca, cert: o.cert, key: o.key as Pem, rejectUnauthorized: o.rejectUnauthorized, servername: o.servername };
}

function samePem(a: Pem, b: Pem): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const flat = (p: Exclude<Pem, undefined>) => (Array.isArray(p) ? p : [p]).map((x) => (typeof x === "string" ? Buffer.from(x) : x));
  const [x, y] = [flat(a), flat(b)];
  return x.length === y.length && x.every((buf, i) => buf.equals(y[i]!));
}

function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.rejectUnauthorized === b.rejectUnauthorized && a.servername === b.servername && samePem(a.ca, b.ca) && samePem(a.cert, b.cert) && samePem(a.key, b.key);
}

function toApiError(status: number, text: string, what: string): ApiError {
  try {
    const st = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, st.reason ?? "Unknown", st.message ?? `${what}: HTTP ${status}`);
  } catch {
    return new ApiError(status, "Unknown", `${what}: HTTP ${status}: ${text.slice(0, 200)}`);
  }
}
