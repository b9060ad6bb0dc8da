// Test access to the shared control plane that `npm test` (scripts/test.js) starts for the integration run,
// and to its real node (test images built offline and imported into it).
import { randomBytes } from "node:crypto";
import { promises as fs, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { TestContext } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { renderKubeconfig } from "../../local/kubeconfig";
import { status, type RealNode } from "../../local/controlplane";
import { goProgramImage, importImage } from "../../local/nodeimages";
import { projectRoot } from "../../local/tools";

/** The admin KubeConfig of the test run's control plane (MOORING_TEST_KUBECONFIG). */
export function testKubeConfig(): k8s.KubeConfig {
  const file = process.env.MOORING_TEST_KUBECONFIG;
  if (!file) {
    throw new Error("MOORING_TEST_KUBECONFIG is not set: integration tests need the shared control plane; run them via `npm test` (node scripts/test.js integration)");
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

/** True when err is an API error with the given HTTP status. */
export function isStatus(err: unknown, code: number): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

/** A DNS-1123 label from free text (a test name), at most `max` characters. */
export function dnsLabel(text: string, max = 40): string {
  const label = text.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+/, "").slice(0, max).replace(/-+$/, "");
  return label || "test";
}

/**
 * Create a namespace with a unique name. Given a test context, the name comes from the test's name and the
 * namespace is deleted when the test ends; given a prefix, deleting it is the caller's business.
 */
export async function newNamespace(t: TestContext | string): Promise<string> {
  const prefix = typeof t === "string" ? dnsLabel(t) : dnsLabel(t.name);
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels: { "mooring.dev/test": "true" } } } });
  if (typeof t !== "string") {
    t.after(async () => {
      try {
        await core.deleteNamespace({ name });
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
    });
  }
  return name;
}

export interface ServiceAccountKubeconfigOptions {
  namespace: string;
  name: string;
  /** Where to write the kubeconfig. Default: a new file under the OS temp directory. */
  kubeconfigOut?: string;
  /** Token lifetime. Default 3600 s (the apiserver's minimum is 600 s). */
  expirationSeconds?: number;
}

/** The cluster's server URL and CA PEM, as the admin kubeconfig names them. */
function clusterOf(kc: k8s.KubeConfig): { server: string; caPem: string } {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the test kubeconfig has no current cluster");
  const caPem = cluster.caData ? Buffer.from(cluster.caData, "base64").toString("utf8") : cluster.caFile ? readFileSync(cluster.caFile, "utf8") : "";
  if (!caPem) throw new Error("the test kubeconfig's cluster has no CA");
  return { server: cluster.server, caPem };
}

/**
 * A kubeconfig that authenticates as ServiceAccount namespace/name (created when missing) with a token from
 * the TokenRequest API, so code can run with exactly the rights RBAC gives that identity.
 */
export async function serviceAccountKubeconfig(opts: ServiceAccountKubeconfigOptions): Promise<{ kubeConfig: k8s.KubeConfig; path: string }> {
  const admin = testKubeConfig();
  const core = admin.makeApiClient(k8s.CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({ namespace: opts.namespace, body: { metadata: { name: opts.name } } });
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
  }
  const tr = await core.createNamespacedServiceAccountToken({
    namespace: opts.namespace,
    name: opts.name,
    body: { spec: { audiences: [], expirationSeconds: opts.expirationSeconds ?? 3600 } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ServiceAccount ${opts.namespace}/${opts.name} returned no token`);
  const { server, caPem } = clusterOf(admin);
  const file = opts.kubeconfigOut ?? path.join(await fs.mkdtemp(path.join(os.tmpdir(), "mooring-sa-")), "kubeconfig");
  const text = renderKubeconfig({ name: `${opts.namespace}-${opts.name}`, server, caPem, user: { token }, namespace: opts.namespace });
  await fs.writeFile(file, text, { mode: 0o600 });
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromString(text);
  return { kubeConfig, path: file };
}

export interface WaitOptions {
  /** What is awaited, for the timeout message ("Deployment x Available"). */
  what: string;
  /** Default 30 s. */
  timeoutMs?: number;
  /** Default 100 ms. */
  intervalMs?: number;
}

/**
 * Poll fn until it returns a value other than undefined/false/null, and return that value. Errors fn throws
 * count as "not yet"; the last one is quoted when the wait times out.
 */
export async function waitFor<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, opts: WaitOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last === undefined ? "" : `; last error: ${last instanceof Error ? last.message : String(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The directory of the test run's control plane (MOORING_TEST_DIR). */
export function testClusterDir(): string {
  const dir = process.env.MOORING_TEST_DIR;
  if (!dir) throw new Error("MOORING_TEST_DIR is not set: run integration tests via `npm test` (node scripts/test.js integration)");
  return dir;
}

/** The real node of the test run's cluster; undefined when it runs kwok nodes only. */
export async function testRealNode(): Promise<RealNode | undefined> {
  const s = await status({ dir: testClusterDir() });
  return s.realNode;
}

/**
 * Build test/fixtures/<program> (a static Go program) as image `ref` and import it into the real node of the
 * cluster in dir (default: the test run's). Pods use it with imagePullPolicy Never.
 */
export async function testProgramImage(program: string, ref: string, dir = testClusterDir()): Promise<string> {
  const archive = await goProgramImage(path.join(projectRoot(), "test", "fixtures", program), ref);
  await importImage(dir, archive);
  return ref;
}
