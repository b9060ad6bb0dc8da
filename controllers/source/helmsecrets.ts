// Reads a HelmRepository's secrets (direct reads, like Flux) into HTTP options: basic auth from secretRef
// ('username'/'password'), TLS from certSecretRef ('tls.crt'/'tls.key'/'ca.crt'), or — deprecated — from
// secretRef ('certFile'/'keyFile'/'caFile') when there is no certSecretRef.
import { ApiError, isNotFound, type KubeClient } from "../runtime/kube";
import { ReconcileError } from "../runtime/errors";
import { AuthenticationFailedReason, FetchFailedCondition } from "../api/source";
import type { HelmRepository } from "../api/source-helm";
import { SecretsRef } from "./secrets";
import type { HelmHttpAuth } from "./helmhttp";

interface Secret {
  type?: string;
  data?: Record<string, string>;
}

const authError = (message: string, cause?: unknown) => new ReconcileError(AuthenticationFailedReason, message, { condition: FetchFailedCondition, cause });

export async function readSecret(client: KubeClient, namespace: string, name: string, signal: AbortSignal): Promise<(key: string) => string | undefined> {
  let secret: Secret;
  try {
    secret = await client.get<Secret>(SecretsRef, namespace, name, { signal, timeoutMs: 15_000 });
  } catch (err) {
    if (isNotFound(err)) throw authError(`failed to get secret '${namespace}/${name}': secret not found`, err);
    const detail = err instanceof ApiError ? `${err.reason} (HTTP ${err.status})` : "request failed";
    throw authError(`failed to get secret '${namespace}/${name}': ${detail}`, err);
  }
  const data = secret.data ?? {};
  return (k) => (data[k] === undefined ? undefined : Buffer.from(data[k]!, "base64").toString("utf8"));
}

/** Validated TLS material: a client certificate needs its key and the other way round. */
export function tlsFrom(get: (k: string) => string | undefined, ref: string, keys: { cert: string; key: string; ca: string }): Pick<HelmHttpAuth, "ca" | "cert" | "key"> {
  const cert = get(keys.cert);
  const key = get(keys.key);
  const ca = get(keys.ca);
  if ((cert === undefined) !== (key === undefined)) {
    throw authError(`invalid TLS data in secret ${ref}: '${cert === undefined ? keys.cert : keys.key}' is missing ('${keys.cert}' and '${keys.key}' go together)`);
  }
  return { ...(ca ? { ca } : {}), ...(cert ? { cert, key } : {}) };
}

/** Basic auth: both or neither of 'username' and 'password'. */
export function basicAuthFrom(get: (k: string) => string | undefined, ref: string): Pick<HelmHttpAuth, "username" | "password"> {
  const username = get("username");
  const password = get("password");
  if (username === undefined && password === undefined) return {};
  if (!username || password === undefined) throw authError(`invalid secret ${ref}: '${username ? "password" : "username"}' is missing for basic authentication`);
  return { username, password };
}

export async function loadHelmAuth(client: KubeClient, repo: HelmRepository, signal: AbortSignal): Promise<HelmHttpAuth> {
  const ns = repo.metadata.namespace!;
  let auth: HelmHttpAuth = {};
  if (repo.spec.secretRef) {
    const ref = `'${ns}/${repo.spec.secretRef.name}'`;
    const get = await readSecret(client, ns, repo.spec.secretRef.name, signal);
    auth = basicAuthFrom(get, ref);
    if (!repo.spec.certSecretRef) auth = { ...auth, ...tlsFrom(get, ref, { cert: "certFile", key: "keyFile", ca: "caFile" }) };
  }
  if (repo.spec.certSecretRef) {
    const ref = `'${ns}/${repo.spec.certSecretRef.name}'`;
    const get = await readSecret(client, ns, repo.spec.certSecretRef.name, signal);
    const tls = tlsFrom(get, ref, { cert: "tls.crt", key: "tls.key", ca: "ca.crt" });
    if (!tls.ca && !tls.cert) throw authError(`invalid secret ${ref}: want 'ca.crt', or 'tls.crt' and 'tls.key'`);
    auth = { ...auth, ...tls };
  }
  return auth;
}
