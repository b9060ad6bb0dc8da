// The Kubernetes object shape the renderers produce and accept, and the one YAML writer they share.
import { stringify } from "yaml";

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Any Kubernetes object: apiVersion, kind, metadata, and whatever its kind carries. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/**
 * An object handed to a renderer by another module (CRDs, RBAC). Any interface with these fields fits,
 * whatever else it declares; the renderer copies it and only adds labels and namespaces.
 */
export interface ManifestInput {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

// Kubernetes' own convention for the head of a document; every other map is sorted by key so the
// output depends only on the content, never on the order a caller built an object in.
const headKeys = ["apiVersion", "kind", "metadata"];

function sortValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortValue);
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortValue(v)]));
  }
  return value;
}

function sortDocument(object: KubeObject): Record<string, unknown> {
  const sorted = sortValue(object) as Record<string, unknown>;
  const head = headKeys.filter((k) => k in sorted).map((k) => [k, sorted[k]] as const);
  const rest = Object.entries(sorted).filter(([k]) => !headKeys.includes(k));
  return Object.fromEntries([...head, ...rest]);
}

/** One YAML document, keys in stable order, no line folding. */
export function toYamlDocument(value: KubeObject | Record<string, unknown>): string {
  const doc = "apiVersion" in value && "kind" in value ? sortDocument(value as KubeObject) : sortValue(value);
  return stringify(doc, { lineWidth: 0, minContentWidth: 0, indentSeq: true });
}

/** A multi-document stream: every document starts with `---`, as Flux writes gotk-*.yaml. */
export function toYamlStream(objects: readonly KubeObject[]): string {
  return objects.map((o) => `---\n${toYamlDocument(o)}`).join("");
}
