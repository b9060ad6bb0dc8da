// Object identity, inventory entries and staging: pure functions over built manifests.
import type { InventoryEntry } from "../api/kustomize";

/** A manifest as built: any Kubernetes object. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ObjectId {
  namespace: string;
  name: string;
  group: string;
  kind: string;
}

export const groupOf = (apiVersion: string): string => (apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "");
export const versionOf = (apiVersion: string): string => (apiVersion.includes("/") ? apiVersion.slice(apiVersion.indexOf("/") + 1) : apiVersion);

export const objectIdOf = (m: Manifest): ObjectId => ({ namespace: m.metadata.namespace ?? "", name: m.metadata.name, group: groupOf(m.apiVersion), kind: m.kind });

/** Flux's inventory id: <namespace>_<name>_<group>_<kind>; ':' in names is written as "__" (as cli-utils does). */
export function formatId(id: ObjectId): string {
  return `${id.namespace}_${id.name.replace(/:/g, "__")}_${id.group}_${id.kind}`;
}

export function parseId(text: string): ObjectId {
  // namespace and kind cannot contain "_"; group cannot either (DNS subdomain), the name can (after "__" decoding).
  const first = text.indexOf("_");
  const last = text.lastIndexOf("_");
  const beforeLast = text.lastIndexOf("_", last - 1);
  if (first < 0 || last <= first || beforeLast < first) throw new Error(`invalid inventory id "${text}"`);
  return {
    namespace: text.slice(0, first),
    name: text.slice(first + 1, beforeLast).replace(/__/g, ":"),
    group: text.slice(beforeLast + 1, last),
    kind: text.slice(last + 1),
  };
}

/** "Kind/namespace/name" or "Kind/name", the way objects are named in messages and events. */
export function describeId(id: ObjectId): string {
  return id.namespace ? `${id.kind}/${id.namespace}/${id.name}` : `${id.kind}/${id.name}`;
}

export const describe = (m: Manifest): string => describeId(objectIdOf(m));

export function inventoryOf(objects: Manifest[]): InventoryEntry[] {
  const entries = objects.map((o) => ({ id: formatId(objectIdOf(o)), v: versionOf(o.apiVersion) }));
  return entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Entries of the old inventory that the new one no longer holds (what prune deletes). */
export function staleEntries(old: InventoryEntry[], next: InventoryEntry[]): InventoryEntry[] {
  const keep = new Set(next.map((e) => e.id));
  return old.filter((e) => !keep.has(e.id));
}

// Staging, as Flux's ResourceManager does it: definitions other objects depend on are applied (and awaited)
// first, then class definitions, then everything else.
const clusterDefinitionKinds = new Set(["CustomResourceDefinition", "Namespace", "ClusterRole", "ClusterRoleBinding"]);
const classDefinitionKinds = new Set(["StorageClass", "IngressClass", "RuntimeClass", "PriorityClass", "GatewayClass"]);

export type StageName = "cluster definitions" | "class definitions" | "resources";
export const stageNames: StageName[] = ["cluster definitions", "class definitions", "resources"];

export function stageOf(m: { apiVersion: string; kind: string }): StageName {
  const g = groupOf(m.apiVersion);
  if (clusterDefinitionKinds.has(m.kind) && ["", "apiextensions.k8s.io", "rbac.authorization.k8s.io"].includes(g)) return "cluster definitions";
  if (classDefinitionKinds.has(m.kind)) return "class definitions";
  return "resources";
}

// Within a stage, kinds other objects reference come first (kustomize's legacy order), then the rest by kind.
const kindOrder = [
  "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole",
  "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
  "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
];
const rank = (kind: string): number => {
  const i = kindOrder.indexOf(kind);
  return i < 0 ? kindOrder.length : i;
};

export function compareForApply(a: Manifest, b: Manifest): number {
  const sa = stageNames.indexOf(stageOf(a));
  const sb = stageNames.indexOf(stageOf(b));
  if (sa !== sb) return sa - sb;
  const ra = rank(a.kind);
  const rb = rank(b.kind);
  if (ra !== rb) return ra - rb;
  const ka = `${a.kind}/${a.metadata.namespace ?? ""}/${a.metadata.name}`;
  const kb = `${b.kind}/${b.metadata.namespace ?? ""}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The objects grouped into stages, in apply order; empty stages are left out. */
export function stages(objects: Manifest[]): { name: StageName; objects: Manifest[] }[] {
  const sorted = [...objects].sort(compareForApply);
  return stageNames.map((name) => ({ name, objects: sorted.filter((o) => stageOf(o) === name) })).filter((s) => s.objects.length > 0);
}

/** Order for deletion: the reverse of apply order (workloads before their namespaces and CRDs). */
export function pruneOrder(ids: { id: ObjectId; v: string }[]): { id: ObjectId; v: string }[] {
  const asManifest = (e: { id: ObjectId; v: string }): Manifest => ({
    apiVersion: e.id.group ? `${e.id.group}/${e.v}` : e.v,
    kind: e.id.kind,
    metadata: { name: e.id.name, namespace: e.id.namespace || undefined },
  });
  return [...ids].sort((a, b) => compareForApply(asManifest(b), asManifest(a)));
}
