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

export async function loadGitAuth(client: KubeClient, namespace: string, name: string, url: URL, signal: AbortSignal): Promise<GitAuth> {
  let secret: Secret;
  try {
    secret = await client.get<Secret>(SecretsRef, namespace, name, { signal, timeoutMs: 15_000 });
  } catch (err) {
    if (isNotFound(err)) throw authError(`failed to get secret '${namespace}/${name}': secret not found`, err);
    const detail = err instanceof ApiError ? `${err.reason} (HTTP ${err.status})` : "request failed";
    throw authError(`failed to get secret '${namespace}/${name}': ${detail}`, err);
  }
  const data = secret.data ?? {};
  const get = (k: string): string | undefined => (data[k] === undefined ? undefined : Buffer.from(data[k]!, "base64").toString("utf8"));
  const ref = `'${namespace}/${name}'`;
  if (url.protocol === "ssh:") {
    const identity = get("identity");
    const knownHosts = get("known_hosts");
    if (!identity) throw authError(`invalid secret ${ref}: missing key 'identity' for SSH authentication`);
    if (!knownHosts) throw authError(`invalid secret ${ref}: missing key 'known_hosts' for SSH authentication`);
    return { identity, knownHosts };
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
  if (!auth.bearerToken && !auth.username && !auth.caFile) throw authError(`invalid secret ${ref}: want 'username' and 'password', or 'bearerToken'`);
  return auth;
}
