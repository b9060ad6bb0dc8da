// Talking to the benchmark's control plane: resource refs, a bounded-concurrency pool, and trackers that
// count objects meeting a condition from a watch (no polling lists while a run is measured).
import type { KubeClient, KubeObject, ResourceRef } from "../controllers/runtime/kube";
import { Informer } from "../controllers/runtime/informer";
import pino from "pino";
import { newLogger } from "../controllers/runtime/log";
import { crds } from "../controllers/api";
import { missingFluxCrds } from "./fluxcrds";

export const refs = {
  namespace: { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false },
  secret: { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true },
  configMap: { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true },
  serviceAccount: { kind: "ServiceAccount", group: "", version: "v1", plural: "serviceaccounts", namespaced: true },
  service: { kind: "Service", group: "", version: "v1", plural: "services", namespaced: true },
  deployment: { kind: "Deployment", group: "apps", version: "v1", plural: "deployments", namespaced: true },
  ingress: { kind: "Ingress", group: "networking.k8s.io", version: "v1", plural: "ingresses", namespaced: true },
  crd: { kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", namespaced: false },
  gitRepository: { kind: "GitRepository", group: "source.toolkit.fluxcd.io", version: "v1", plural: "gitrepositories", namespaced: true },
  kustomization: { kind: "Kustomization", group: "kustomize.toolkit.fluxcd.io", version: "v1", plural: "kustomizations", namespaced: true },
} satisfies Record<string, ResourceRef>;

export function refFor(apiVersion: string, kind: string): ResourceRef {
  const found = Object.values(refs).find((r) => (r.group ? `${r.group}/${r.version}` : r.version) === apiVersion && r.kind === kind);
  if (!found) throw new Error(`bench: no resource ref for ${apiVersion} ${kind}`);
  return found;
}

/** Runs fn over items with at most `limit` in flight; rejects with the first failure after all settled. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let firstError: unknown;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (firstError !== undefined) throw firstError;
}

/** Server-side apply of one object (the bench's own field manager). */
export async function apply(client: KubeClient, obj: KubeObject, fieldManager: string, signal?: AbortSignal): Promise<unknown> {
  return (await client.apply(refFor(obj.apiVersion, obj.kind), obj, fieldManager, { signal, timeoutMs: 60_000 })).object;
}

/** A watch-fed cache of one kind that knows how many objects meet `accept` and can wait for a count. */
export class Tracker<T extends KubeObject> {
  readonly informer: Informer<T>;
  private readonly accepted = new Set<string>();
  private waiters: { want: number; resolve: () => void }[] = [];
  private listeners: ((obj: T) => void)[] = [];

  constructor(client: KubeClient, ref: ResourceRef, private readonly accept: (obj: T) => boolean) {
    this.informer = new Informer<T>(client, ref, newLogger("warn", pino.destination(2)));
    this.informer.on((event, obj) => {
      const key = `${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
      if (event !== "delete" && this.accept(obj)) this.accepted.add(key);
      else this.accepted.delete(key);
      for (const l of this.listeners) l(obj);
      this.waiters = this.waiters.filter((w) => (this.accepted.size >= w.want ? (w.resolve(), false) : true));
    });
  }

  get count(): number {
    return this.accepted.size;
  }

  /** Calls listener for every add/update seen from now on; returns a function that removes it. */
  onChange(listener: (obj: T) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  /** Resolves when at least `want` objects are accepted; false when the signal aborts first. */
  waitForCount(want: number, signal: AbortSignal): Promise<boolean> {
    if (this.accepted.size >= want) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { want, resolve: () => resolve(true) };
      this.waiters.push(w);
      signal.addEventListener("abort", () => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      }, { once: true });
    });
  }
}

interface Conditioned extends KubeObject {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[]; artifact?: { revision?: string }; lastAppliedRevision?: string };
}

/** Ready=True for the object's current generation. */
export function isReady(obj: Conditioned): boolean {
  const ready = obj.status?.conditions?.find((c) => c.type === "Ready");
  return ready?.status === "True" && obj.status?.observedGeneration === obj.metadata.generation;
}

/** Applies Mooring's CRDs (plus stand-ins for the Flux kinds ours lack, for Flux's controllers) and waits until all are Established. */
export async function installCrds(client: KubeClient, forFlux: boolean): Promise<void> {
  const ours = crds();
  const all = forFlux ? [...ours, ...missingFluxCrds(ours.map((c) => c.metadata.name))] : ours;
  for (const crd of all) await apply(client, crd as unknown as KubeObject, "mooring-bench");
  const deadline = Date.now() + 60_000;
  for (const crd of all) {
    for (;;) {
      const got = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(refs.crd, undefined, crd.metadata.name);
      if (got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not Established after 60s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
