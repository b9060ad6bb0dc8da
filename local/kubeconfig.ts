// Kubeconfig files with embedded credentials (self-contained: safe to copy out of DIR).
import { stringify } from "yaml";

export type KubeconfigUser = { clientCertificate: string; clientKey: string } | { token: string };

export interface KubeconfigSpec {
  /** Name used for the cluster, user and context entries. */
  name: string;
  server: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  caPem: string;
  user: KubeconfigUser;
  namespace?: string;
}

const b64 = (pem: string) => Buffer.from(pem).toString("base64");

export function renderKubeconfig(spec: KubeconfigSpec): string {
  const user =
    "token" in spec.user
      ? { token: spec.user.token }
      : { "client-certificate-data": b64(spec.user.clientCertificate), "client-key-data": b64(spec.user.clientKey) };
  const context: Record<string, string> = { cluster: spec.name, user: spec.name };
  if (spec.namespace) context.namespace = spec.namespace;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: spec.name, cluster: { server: spec.server, "certificate-authority-data": b64(spec.caPem) } }],
    users: [{ name: spec.name, user }],
    contexts: [{ name: spec.name, context }],
    "current-context": spec.name,
    preferences: {},
  });
}
