// Registry credentials and TLS for OCI sources: secretRef is a kubernetes.io/dockerconfigjson Secret (the
// entry for the registry's host, `username`/`password` or `auth`), certSecretRef holds ca.crt / tls.crt / tls.key.
import type { KubeClient } from "../runtime/kube";
import { ReconcileError } from "../runtime/errors";
import { AuthenticationFailedReason, FetchFailedCondition } from "../api/source";
import { readSecret, tlsFrom } from "./helmsecrets";
import type { RegistryCredentials } from "./registry";

export interface RegistryAuth {
  credentials?: RegistryCredentials;
  ca?: string;
  cert?: string;
  key?: string;
}

const authError = (message: string) => new ReconcileError(AuthenticationFailedReason, message, { condition: FetchFailedCondition });

/** The credentials for `registry` ("host[:port]") in a docker config JSON; undefined when it has none for it. */
export function credentialsFromDockerConfig(json: string, registry: string, ref: string): RegistryCredentials | undefined {
  let config: { auths?: Record<string, { username?: string; password?: string; auth?: string }> };
  try {
    config = JSON.parse(json) as typeof config;
  } catch {
    throw authError(`invalid secret ${ref}: '.dockerconfigjson' is not JSON`);
  }
  const hostOf = (key: string) => key.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  const entry = Object.entries(config.auths ?? {}).find(([key]) => hostOf(key) === registry)?.[1];
  if (!entry) return undefined;
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  throw authError(`invalid secret ${ref}: the entry for '${registry}' has neither 'username' and 'password' nor 'auth'`);
}

export async function loadRegistryAuth(
  client: KubeClient,
  namespace: string,
  spec: { secretRef?: { name: string }; certSecretRef?: { name: string } },
  registry: string,
  signal: AbortSignal,
): Promise<RegistryAuth> {
  const auth: RegistryAuth = {};
  if (spec.secretRef) {
    const ref = `'${namespace}/${spec.secretRef.name}'`;
    const get = await readSecret(client, namespace, spec.secretRef.name, signal);
    const json = get(".dockerconfigjson");
    if (json !== undefined) {
      auth.credentials = credentialsFromDockerConfig(json, registry, ref);
      if (!auth.credentials) throw authError(`invalid secret ${ref}: no credentials for registry '${registry}' in '.dockerconfigjson'`);
    } else {
      const username = get("username");
      const password = get("password");
      if (!username || password === undefined) throw authError(`invalid secret ${ref}: want a '.dockerconfigjson' (type kubernetes.io/dockerconfigjson), or 'username' and 'password'`);
      auth.credentials = { username, password };
    }
  }
  if (spec.certSecretRef) {
    const ref = `'${namespace}/${spec.certSecretRef.name}'`;
    const get = await readSecret(client, namespace, spec.certSecretRef.name, signal);
    Object.assign(auth, tlsFrom(get, ref, { cert: "tls.crt", key: "tls.key", ca: "ca.crt" }));
  }
  return auth;
}
