// Cluster access for the dynamic providers: a KubeConfig from a path or inline contents, server-side
// apply, and the few generic reads and deletes the install and status resources need.
import * as k8s from "@kubernetes/client-node";
import type { KubeObject } from "../../bootstrap";

/** How the cluster is reached: the kubeconfig (a file path or its contents) and an optional context. */
export interface ClusterAccess {
  kubeconfig: string;
  context?: string;
}

/** The field manager of Pulumi's first apply; the controllers apply later with `kustomize-controller`. */
export const fieldManager = "mooring-bootstrap";

export function isKubeconfigContents(value: string): boolean {
  return /\n/.test(value) || /^\s*(apiVersion|clusters|kind)\s*:/.test(value) || /^\s*\{/.test(value);
}

export function kubeConfigOf(access: ClusterAccess): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (isKubeconfigContents(access.kubeconfig)) kc.loadFromString(access.kubeconfig);
  else kc.loadFromFile(access.kubeconfig);
  if (access.context) kc.setCurrentContext(access.context);
  return kc;
}

export function statusCode(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;

/** A short, secret-free description of an API error. */
export function describeError(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      // not JSON: fall through
    }
  }
  if (body && typeof body === "object" && typeof (body as { message?: unknown }).message === "string") return (body as { message: string }).message;
  return err instanceof Error ? err.message.split("\n")[0]! : String(err);
}

/**
 * Runs a request again while the apiserver answers 429 or 503, e.g. "storage is (re)initializing" for a
 * custom resource whose CRD was just created or changed: after its Retry-After (1 s by default, at most 5 s),
 * for up to `budgetMs` in all. Other errors, and the last throttled one, are thrown as they are.
 */
export async function retryThrottled<T>(fn: () => Promise<T>, budgetMs = 30_000, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const code = statusCode(err);
      if (code !== 429 && code !== 503) throw err;
      const headers = (err as { headers?: Record<string, string> }).headers ?? {};
      const after = Number(headers["retry-after"] ?? headers["Retry-After"]);
      const wait = Math.min(Number.isFinite(after) && after > 0 ? after * 1000 : 1000, 5000);
      if (Date.now() + wait > deadline) throw err;
      await sleep(wait);
    }
  }
}

export class Cluster {
  readonly objects: k8s.KubernetesObjectApi;
  readonly server: string;

  constructor(readonly kc: k8s.KubeConfig) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.server = kc.getCurrentCluster()?.server ?? "";
  }

  static of(access: ClusterAccess): Cluster {
    return new Cluster(kubeConfigOf(access));
  }

  /** Server-side apply, taking over conflicting fields (the object is ours to set at this moment). */
  async apply(object: KubeObject): Promise<k8s.KubernetesObject> {
    const body = JSON.parse(JSON.stringify(object)) as k8s.KubernetesObject;
    try {
      return await retryThrottled(() => this.objects.patch(body, undefined, undefined, fieldManager, true, k8s.PatchStrategy.ServerSideApply));
    } catch (err) {
      throw new Error(`apply ${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ""}${object.metadata.name}: ${describeError(err)}`);
    }
  }

  async get<T extends k8s.KubernetesObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return (await retryThrottled(() => this.objects.read({ apiVersion, kind, metadata: { name, namespace } }))) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      // A kind whose CRD is gone answers 404 from discovery with a different shape.
      if (/not found|no matches|Unrecognized resource/i.test(describeError(err))) return undefined;
      throw err;
    }
  }

  async list<T extends k8s.KubernetesObject>(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<T[]> {
    try {
      const result = await retryThrottled(() => this.objects.list<T>(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector));
      return result.items;
    } catch (err) {
      if (isNotFound(err) || /not found|no matches|Unrecognized resource/i.test(describeError(err))) return [];
      throw err;
    }
  }

  /** Delete; an object already gone is not an error. Returns whether it existed. */
  async delete(apiVersion: string, kind: string, name: string, namespace?: string): Promise<boolean> {
    try {
      await retryThrottled(() => this.objects.delete({ apiVersion, kind, metadata: { name, namespace } }, undefined, undefined, undefined, undefined, "Background"));
      return true;
    } catch (err) {
      if (isNotFound(err) || /not found|no matches|Unrecognized resource/i.test(describeError(err))) return false;
      throw new Error(`delete ${kind} ${namespace ? `${namespace}/` : ""}${name}: ${describeError(err)}`);
    }
  }

  /** JSON merge patch (finalizers, suspend). */
  async mergePatch(apiVersion: string, kind: string, name: string, namespace: string | undefined, patch: Record<string, unknown>): Promise<void> {
    const extraMeta = (patch.metadata ?? {}) as Record<string, unknown>;
    const body = { ...patch, apiVersion, kind, metadata: { ...extraMeta, name, namespace } } as k8s.KubernetesObject;
    try {
      await retryThrottled(() => this.objects.patch(body, undefined, undefined, fieldManager, undefined, k8s.PatchStrategy.MergePatch));
    } catch (err) {
      if (isNotFound(err)) return;
      throw new Error(`patch ${kind} ${namespace ? `${namespace}/` : ""}${name}: ${describeError(err)}`);
    }
  }
}

