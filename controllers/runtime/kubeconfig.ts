// A small kubeconfig loader for the controllers. @kubernetes/client-node's KubeConfig pulls in the whole
// generated API (~80 MiB of a controller's resident memory) just to read a file; this one covers what a
// controller is given — client certificates, bearer tokens (also from a file, re-read as it rotates),
// basic auth, impersonation, in-cluster ServiceAccount — and leaves exec plugins and auth providers to
// client-node, loaded only then.
import * as fs from "node:fs";
import type * as https from "node:https";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

/** What KubeClient needs from a kubeconfig. client-node's KubeConfig has the same shape. */
export interface ClusterConfig {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** A ClusterConfig that can derive a copy acting as another user (Impersonate-User). */
export interface ImpersonatingConfig extends ClusterConfig {
  impersonating(user: string): ClusterConfig;
}

export const isImpersonating = (c: ClusterConfig): c is ImpersonatingConfig => typeof (c as Partial<ImpersonatingConfig>).impersonating === "function";

export interface StaticCredentials {
  server: string;
  ca?: Buffer;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  /** Read per request (cached for a minute): ServiceAccount tokens rotate. */
  tokenFile?: string;
  basic?: { username: string; password: string };
  impersonate?: string;
}

const tokenCacheMs = 60_000;

export class StaticKubeConfig implements ImpersonatingConfig {
  private token?: { value: string; readAt: number };

  constructor(readonly credentials: StaticCredentials) {}

  getCurrentCluster(): { server: string } {
    return { server: this.credentials.server };
  }

  impersonating(user: string): StaticKubeConfig {
    return new StaticKubeConfig({ ...this.credentials, impersonate: user });
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const c = this.credentials;
    if (c.ca) opts.ca = c.ca;
    if (c.cert) opts.cert = c.cert;
    if (c.key) opts.key = c.key;
    if (c.insecureSkipTlsVerify) opts.rejectUnauthorized = false;
    if (c.tlsServerName) opts.servername = c.tlsServerName;
    const headers = (opts.headers ??= {}) as Record<string, string>;
    const token = c.tokenFile ? await this.fileToken(c.tokenFile) : c.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (c.basic) headers.Authorization = `Basic ${Buffer.from(`${c.basic.username}:${c.basic.password}`).toString("base64")}`;
    if (c.impersonate) headers["Impersonate-User"] = c.impersonate;
  }

  private async fileToken(file: string): Promise<string> {
    const now = Date.now();
    if (!this.token || now - this.token.readAt > tokenCacheMs) this.token = { value: (await fs.promises.readFile(file, "utf8")).trim(), readAt: now };
    return this.token.value;
  }
}

interface Named<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

type Fields = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * Credentials of the current context of a kubeconfig document, or undefined when its user needs client-node
 * (exec plugin, auth provider). Relative file paths are resolved against the kubeconfig's directory.
 */
export function credentialsFromKubeconfig(text: string, file: string): StaticCredentials | undefined {
  const doc = (parseYaml(text) ?? {}) as Fields;
  const find = <T>(list: unknown, name: unknown, what: string): T => {
    const item = Array.isArray(list) ? (list as Named<T>[]).find((x) => x?.name === name) : undefined;
    if (!item) throw new Error(`kubeconfig ${file}: ${what} "${String(name)}" not found`);
    return ((item as Fields)[what] ?? {}) as T;
  };
  const current = str(doc["current-context"]);
  if (!current) throw new Error(`kubeconfig ${file}: no current-context`);
  const context = find<Fields>(doc.contexts, current, "context");
  const cluster = find<Fields>(doc.clusters, context.cluster, "cluster");
  const user = context.user === undefined ? {} : find<Fields>(doc.users, context.user, "user");
  if (user.exec || user["auth-provider"]) return undefined;
  const dir = path.dirname(path.resolve(file));
  const read = (p: unknown): Buffer | undefined => (str(p) ? fs.readFileSync(path.resolve(dir, p as string)) : undefined);
  const data = (d: unknown): Buffer | undefined => (str(d) ? Buffer.from(d as string, "base64") : undefined);
  const server = str(cluster.server);
  if (!server) throw new Error(`kubeconfig ${file}: cluster "${String(context.cluster)}" has no server`);
  const username = str(user.username);
  const password = typeof user.password === "string" ? user.password : undefined;
  return {
    server,
    ca: data(cluster["certificate-authority-data"]) ?? read(cluster["certificate-authority"]),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
    tlsServerName: str(cluster["tls-server-name"]),
    cert: data(user["client-certificate-data"]) ?? read(user["client-certificate"]),
    key: data(user["client-key-data"]) ?? read(user["client-key"]),
    token: str(user.token),
    tokenFile: str(user.tokenFile) ? path.resolve(dir, user.tokenFile as string) : undefined,
    basic: username && password !== undefined ? { username, password } : undefined,
    impersonate: str(user.as),
  };
}

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

/** In-cluster credentials: the ServiceAccount token (re-read as it rotates) and the cluster CA. */
export function inClusterCredentials(env: NodeJS.ProcessEnv = process.env, dir = serviceAccountDir): StaticCredentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error("in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: fs.readFileSync(path.join(dir, "ca.crt")),
    tokenFile: path.join(dir, "token"),
  };
}
