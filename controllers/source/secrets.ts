// Reads a GitRepository's auth Secret (direct read, not cached, like Flux) into GitAuth for its URL's scheme.
import { ApiError, isNotFound, type KubeClient, type ResourceRef } from "../runtime/kube";
import { ReconcileError } from "../runtime/errors";
import { AuthenticationFailedReason, FetchFailedCondition } from "../api/source";
import type { GitAuth } from "./git";

export const SecretsRef: ResourceRef = { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true };

interface Secret {
  data?: Record<string, string>;
}

const authError = (message: string, cause?: unknown) => new ReconcileError(AuthenticationFailedReason, message, { condition: FetchFailedCondition, cause });

/** Reads a Secret's data directly (not cached); a missing Secret or a failed read is an error built by `fail`. */
export async function readSecretData(client: KubeClient, namespace: string, name: string, signal: AbortSignal, fail: (message: string, cause: unknown) => Error = authError): Promise<Record<string, string>> {
  try {
    const secret = await client.get<Secret>(SecretsRef, namespace, name, { signal, timeoutMs: 15_000 });
    return secret.data ?? {};
  } catch (err) {
    if (isNotFound(err)) throw fail(`failed to get secret '${namespace}/${name}': secret not found`, err);
    const detail = err instanceof ApiError ? `${err.reason} (HTTP ${err.status})` : "request failed";
    throw fail(`failed to get secret '${namespace}/${name}': ${detail}`, err);
  }
}

/**
 * The proxy of .spec.proxySecretRef as one URL: `address` (http, https or socks5) with `username`/`password`
 * folded in. The URL holds credentials: it only ever goes to git through the environment.
 */
export async function loadProxy(client: KubeClient, namespace: string, name: string, signal: AbortSignal): Promise<string> {
  const data = await readSecretData(client, namespace, name, signal);
  const get = (k: string): string | undefined => (data[k] === undefined ? undefined : Buffer.from(data[k]!, "base64").toString("utf8").trim());
  const ref = `'${namespace}/${name}'`;
  const address = get("address");
  if (!address) throw authError(`invalid proxy secret ${ref}: key 'address' is missing`);
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw authError(`invalid proxy secret ${ref}: 'address' is not a URL`);
  }
  if (!["http:", "https:", "socks5:", "socks5h:"].includes(url.protocol)) throw authError(`invalid proxy secret ${ref}: 'address' scheme must be http, https or socks5`);
  const username = get("username");
  const password = get("password");
  if (username) url.username = encodeURIComponent(username);
  if (password) url.password = encodeURIComponent(password);
  return url.toString().replace(/\/$/, "");
}

export async function loadGitAuth(client: KubeClient, namespace: string, name: string, url: URL, signal: AbortSignal): Promise<GitAuth> {
  const data = await readSecretData(client, namespace, name, signal);
  const get = (k: string): string | undefined => (data[k] === undefined ? undefined : Buffer.from(data[k]!, "base64").toString("utf8"));
  const ref = `'${namespace}/${name}'`;
  if (url.protocol === "ssh:") {
    const identity = get("identity");
    const knownHosts = get("known_hosts");
    if (!identity) throw authError(`invalid secret ${ref}: missing key 'identity' for SSH authentication`);
    if (!knownHosts) throw authError(`invalid secret ${ref}: missing key 'known_hosts' for SSH authentication`);
    const passphrase = get("password");
    return passphrase ? { identity, knownHosts, passphrase } : { identity, knownHosts };
  }
  const auth: GitAuth = {};
  const username = get("username");
  const password = get("password");
  const bearerToken = get("bearerToken");
  if (bearerToken) auth.bearerToken = bearerToken;
  if (username !== undefined || password !== undefined) {
    if (!username || password === undefined) throw authError(`invalid secret ${ref}: '${username ? "password" : "username"}' is missing for basic authentication`);
    auth.username = username;
    auth.password = password;
  }
  const ca = get("ca.crt") ?? get("caFile");
  if (ca) auth.caFile = ca;
  const tlsCert = get("tls.crt");
  const tlsKey = get("tls.key");
  if (tlsCert !== undefined || tlsKey !== undefined) {
    if (!tlsCert || !tlsKey) throw authError(`invalid secret ${ref}: '${tlsCert ? "tls.key" : "tls.crt"}' is missing: a client certificate needs both 'tls.crt' and 'tls.key'`);
    auth.tlsCert = tlsCert;
    auth.tlsKey = tlsKey;
  }
  if (!auth.bearerToken && !auth.username && !auth.caFile && !auth.tlsCert) throw authError(`invalid secret ${ref}: want 'username' and 'password', 'bearerToken', or 'tls.crt' and 'tls.key'`);
  return auth;
}
