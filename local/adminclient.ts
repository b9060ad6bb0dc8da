// A minimal HTTPS client for the few calls `up` makes itself (readyz, fake Nodes), authenticated with the
// admin client certificate. Loading the full Kubernetes client for them would cost more than the calls.
import * as https from "node:https";

export interface AdminCredentials {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

export interface Response {
  status: number;
  body: string;
}

export function request(creds: AdminCredentials, method: string, path: string, body?: unknown, timeoutMs = 5_000): Promise<Response> {
  const url = new URL(path, creds.server);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca: creds.ca,
        cert: creds.cert,
        key: creds.key,
        agent: false,
        timeout: timeoutMs,
        headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url.href} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** "ok" when /readyz says so, else the reason (HTTP body or connection error). */
export async function readyz(creds: AdminCredentials, timeoutMs = 2_000): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await request(creds, "GET", "/readyz", undefined, timeoutMs);
    return { ok: res.status === 200 && res.body.trim() === "ok", detail: res.status === 200 ? res.body.trim() : `HTTP ${res.status}: ${res.body.trim()}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

interface NodeStatus {
  status?: { conditions?: { type: string; status: string }[] };
}

/** Create the Node unless it exists (409 is fine). */
export async function ensureNode(creds: AdminCredentials, manifest: Record<string, unknown>): Promise<void> {
  const res = await request(creds, "POST", "/api/v1/nodes", manifest);
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating Node: HTTP ${res.status}: ${res.body}`);
}

export async function nodeReady(creds: AdminCredentials, name: string): Promise<boolean> {
  const res = await request(creds, "GET", `/api/v1/nodes/${encodeURIComponent(name)}`);
  if (res.status !== 200) return false;
  const node = JSON.parse(res.body) as NodeStatus;
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

const plurals: Record<string, string> = {
  ServiceAccount: "serviceaccounts",
  ConfigMap: "configmaps",
  Service: "services",
  Deployment: "deployments",
  ClusterRole: "clusterroles",
  ClusterRoleBinding: "clusterrolebindings",
};

/** Collection path of an object of one of the kinds `up` creates itself. */
export function collectionPath(obj: { apiVersion: string; kind: string; metadata: { namespace?: string } }): string {
  const plural = plurals[obj.kind];
  if (!plural) throw new Error(`no collection path known for kind ${obj.kind}`);
  const base = obj.apiVersion.includes("/") ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  return obj.metadata.namespace ? `${base}/namespaces/${encodeURIComponent(obj.metadata.namespace)}/${plural}` : `${base}/${plural}`;
}

/** Create the object unless it exists (an existing one is left as is). */
export async function ensureObject(creds: AdminCredentials, obj: Record<string, unknown>): Promise<void> {
  const o = obj as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
  const res = await request(creds, "POST", collectionPath(o), obj);
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}: HTTP ${res.status}: ${res.body}`);
}

/** True when a Deployment's ready replicas reach its desired count (at least one). */
export async function deploymentReady(creds: AdminCredentials, namespace: string, name: string): Promise<boolean> {
  const res = await request(creds, "GET", `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}`);
  if (res.status !== 200) return false;
  const d = JSON.parse(res.body) as { spec?: { replicas?: number }; status?: { readyReplicas?: number } };
  return (d.status?.readyReplicas ?? 0) >= Math.max(1, d.spec?.replicas ?? 1);
}
