// A small OCI distribution client: manifests (HEAD for the digest, GET for the content), tag lists (paginated),
// blobs (size-limited, digest-verified). Registry auth as registries challenge for it: Basic, or a Bearer token
// from the realm the WWW-Authenticate header names (with the credentials, for the repository's pull scope).
// HTTPS with the given CA and client certificate; plain HTTP only when `insecure`.
import * as http from "node:http";
import * as https from "node:https";
import { createHash } from "node:crypto";

export const ociMediaTypes = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

const manifestAccept = [ociMediaTypes.manifest, ociMediaTypes.dockerManifest, ociMediaTypes.index, ociMediaTypes.dockerList].join(", ");

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** "host[:port]". */
  registry: string;
  /** Repository path in the registry, e.g. "org/manifests". */
  repository: string;
  insecure?: boolean;
  credentials?: RegistryCredentials;
  ca?: string;
  cert?: string;
  key?: string;
  signal: AbortSignal;
  /** User-Agent of the requests (default "mooring-source-controller"). */
  userAgent?: string;
  /** Tags asked for per page of the tag list (default 1000). */
  pageSize?: number;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

/** "oci://host[:port]/path" → registry and repository; no tag or digest allowed (as Flux's URL validation). */
export function parseOciUrl(raw: string): { registry: string; repository: string } {
  if (!raw.startsWith("oci://")) throw new RegistryError(`URL must be in format 'oci://<domain>/<org>/<repo>'`);
  const rest = raw.slice("oci://".length).replace(/\/+$/, "");
  const slash = rest.indexOf("/");
  if (slash <= 0 || slash === rest.length - 1) throw new RegistryError(`URL must be in format 'oci://<domain>/<org>/<repo>'`);
  const registry = rest.slice(0, slash);
  const repository = rest.slice(slash + 1);
  if (repository.includes("@") || /:[^/]*$/.test(repository)) throw new RegistryError("URL must not contain a tag or digest; use .spec.ref");
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) throw new RegistryError(`invalid repository name '${repository}'`);
  return { registry, repository };
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class RegistryClient {
  private authorization?: string;

  constructor(private readonly o: RegistryOptions) {}

  private get base(): string {
    return `${this.o.insecure ? "http" : "https"}://${this.o.registry}`;
  }

  /** The manifest's digest (HEAD, falling back to GET when the registry sends no digest header). */
  async resolve(reference: string): Promise<string> {
    const res = await this.request("HEAD", `/v2/${this.o.repository}/manifests/${reference}`, { accept: manifestAccept }, 0);
    const digest = res.headers["docker-content-digest"];
    if (typeof digest === "string" && digest) return digest;
    return (await this.manifest(reference)).digest;
  }

  async manifest(reference: string, maxBytes = 4 << 20): Promise<{ digest: string; manifest: Manifest }> {
    const res = await this.request("GET", `/v2/${this.o.repository}/manifests/${reference}`, { accept: manifestAccept }, maxBytes);
    const digest = `sha256:${createHash("sha256").update(res.body).digest("hex")}`;
    if (reference.startsWith("sha256:") && reference !== digest) throw new RegistryError(`manifest digest mismatch: asked for ${reference}, got ${digest}`);
    let manifest: Manifest;
    try {
      manifest = JSON.parse(res.body.toString("utf8")) as Manifest;
    } catch {
      throw new RegistryError(`manifest ${reference} is not JSON`);
    }
    const type = manifest.mediaType ?? res.headers["content-type"];
    if (type === ociMediaTypes.index || type === ociMediaTypes.dockerList) throw new RegistryError(`${reference} is an image index, not an artifact manifest`);
    if (!Array.isArray(manifest.layers)) throw new RegistryError(`manifest ${reference} has no layers`);
    return { digest, manifest };
  }

  async tags(): Promise<string[]> {
    const out: string[] = [];
    let next: string | undefined = `/v2/${this.o.repository}/tags/list?n=${this.o.pageSize ?? 1000}`;
    for (let page = 0; next && page < 100; page++) {
      const res = await this.request("GET", next, { accept: "application/json" }, 16 << 20);
      const list = JSON.parse(res.body.toString("utf8")) as { tags?: string[] | null };
      out.push(...(list.tags ?? []));
      const link = res.headers.link;
      const m = typeof link === "string" ? /<([^>]+)>;\s*rel="?next"?/.exec(link) : null;
      next = m ? new URL(m[1]!, this.base).pathname + new URL(m[1]!, this.base).search : undefined;
    }
    return out;
  }

  /** A blob, verified against its digest. */
  async blob(d: Descriptor, maxBytes: number): Promise<Buffer> {
    if (d.size > maxBytes) throw new RegistryError(`layer ${d.digest} is ${d.size} bytes, over the limit of ${maxBytes} bytes`);
    const res = await this.request("GET", `/v2/${this.o.repository}/blobs/${d.digest}`, { accept: "*/*" }, maxBytes);
    const got = `sha256:${createHash("sha256").update(res.body).digest("hex")}`;
    if (got !== d.digest) throw new RegistryError(`blob digest mismatch: expected ${d.digest}, got ${got}`);
    return res.body;
  }

  private async request(method: string, pathAndQuery: string, headers: Record<string, string>, maxBytes: number): Promise<Response> {
    let res = await this.send(method, pathAndQuery, headers, maxBytes, this.base);
    if (res.status === 401) {
      const challenge = res.headers["www-authenticate"];
      if (typeof challenge === "string" && (await this.authenticate(challenge))) res = await this.send(method, pathAndQuery, headers, maxBytes, this.base);
    }
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(`${method} ${this.where(pathAndQuery)}: ${res.status} ${http.STATUS_CODES[res.status]}${this.o.credentials ? " (the registry refused the credentials)" : " (the registry wants credentials: set .spec.secretRef)"}`, res.status);
    }
    if (res.status === 404) throw new RegistryError(`${method} ${this.where(pathAndQuery)}: 404 Not Found`, 404);
    if (res.status < 200 || res.status >= 300) throw new RegistryError(`${method} ${this.where(pathAndQuery)}: ${res.status} ${http.STATUS_CODES[res.status] ?? ""}`.trimEnd(), res.status);
    return res;
  }

  private where(pathAndQuery: string): string {
    return `${this.base}${pathAndQuery.split("?")[0]}`;
  }

  /** Answers a challenge: Basic with the credentials, or a Bearer token from the named realm. */
  private async authenticate(challenge: string): Promise<boolean> {
    const scheme = challenge.split(/\s+/, 1)[0]!.toLowerCase();
    const params: Record<string, string> = {};
    for (const m of challenge.slice(scheme.length).matchAll(/([a-zA-Z]+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
    const basic = this.o.credentials ? `Basic ${Buffer.from(`${this.o.credentials.username}:${this.o.credentials.password}`).toString("base64")}` : undefined;
    if (scheme === "basic") {
      if (!basic || this.authorization === basic) return false;
      this.authorization = basic;
      return true;
    }
    if (scheme !== "bearer" || !params.realm) return false;
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set("service", params.service);
    realm.searchParams.set("scope", params.scope ?? `repository:${this.o.repository}:pull`);
    const res = await this.send("GET", realm.pathname + realm.search, { accept: "application/json", ...(basic ? { authorization: basic } : {}) }, 1 << 20, realm.origin);
    if (res.status !== 200) throw new RegistryError(`token request to ${realm.origin}${realm.pathname}: ${res.status} ${http.STATUS_CODES[res.status] ?? ""}`.trimEnd(), res.status);
    const body = JSON.parse(res.body.toString("utf8")) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`token request to ${realm.origin}${realm.pathname}: no token in the answer`);
    this.authorization = `Bearer ${token}`;
    return true;
  }

  private send(method: string, pathAndQuery: string, headers: Record<string, string>, maxBytes: number, origin: string, hops = 0): Promise<Response> {
    const url = new URL(pathAndQuery, origin);
    const sameOrigin = url.origin === this.base;
    const h: Record<string, string> = { "user-agent": this.o.userAgent ?? "mooring-source-controller", ...headers };
    if (sameOrigin && this.authorization && !h.authorization) h.authorization = this.authorization;
    const secure = url.protocol === "https:";
    const options: https.RequestOptions = {
      method,
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port || undefined,
      path: url.pathname + url.search,
      headers: h,
      signal: this.o.signal,
      ...(secure ? { ca: this.o.ca, cert: this.o.cert, key: this.o.key, agent: false } : {}),
    };
    const shown = `${url.origin}${url.pathname}`;
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(options, (res) => {
        const status = res.statusCode ?? 0;
        // Registries redirect blob downloads to storage; credentials stay with the registry.
        if (status >= 300 && status < 400 && res.headers.location && hops < 5) {
          res.resume();
          const next = new URL(res.headers.location, url);
          const nextHeaders = { ...headers };
          this.send(method, next.pathname + next.search, nextHeaders, maxBytes, next.origin, hops + 1).then(resolve, reject);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (status >= 200 && status < 300 && size > maxBytes && method !== "HEAD") {
            res.destroy();
            reject(new RegistryError(`${shown} is over the limit of ${maxBytes} bytes`));
            return;
          }
          if (size <= maxBytes + 65536) chunks.push(chunk);
        });
        res.on("end", () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", (err) => reject(new RegistryError(`${method} ${shown}: ${err.message}`)));
      });
      req.on("error", (err) => reject(new RegistryError(`${method} ${shown}: ${this.o.signal.aborted ? "timed out" : err.message}`)));
      req.end();
    });
  }
}
