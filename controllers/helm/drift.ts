// Drift of a release's objects (spec.driftDetection): each object of the release manifest is compared with
// the cluster by a server-side dry-run apply (what the apiserver would make of the manifest, defaults and
// normalisation included) against the live object, on the fields the manifest sets, minus the ignore rules.
// Corrected by a server-side apply of the drifted objects (recreating deleted ones), without a new Helm
// release revision. The kustomize-controller's DriftWatcher, selecting on the HelmRelease labels, makes a
// release reconcile within seconds when one of its objects changes.
import { parseAllDocuments } from "yaml";
import type { KubeClient, KubeObject, ResourceRef } from "../runtime/kube";
import { isNotFound } from "../runtime/kube";
import { project } from "../kustomize/drift";
import type { RestMapper } from "../kustomize/restmapper";
import { parseLabelSelector, selectorMatches } from "../labelselector";
import type { DriftDetection } from "../api/helm";

export const DriftFieldManager = "helm-controller";

export interface ReleaseObject {
  ref: ResourceRef;
  desired: KubeObject;
  /** "Kind/namespace/name" as events name it. */
  subject: string;
}

export interface Drifted extends ReleaseObject {
  change: "deleted" | "modified";
}

type IgnoreRule = NonNullable<DriftDetection["ignore"]>[number];

/**
 * The objects of a release manifest, namespaced ones in the release namespace unless they name one, with
 * the ownership label and annotations Helm adds when it creates them (so a recreated object stays Helm's).
 */
export async function releaseObjects(manifest: string, release: { name: string; namespace: string }, mapper: RestMapper, signal?: AbortSignal): Promise<ReleaseObject[]> {
  const namespace = release.namespace;
  const out: ReleaseObject[] = [];
  for (const doc of parseAllDocuments(manifest)) {
    const obj = doc.toJS() as KubeObject | null;
    if (!obj || typeof obj !== "object" || !obj.kind || !obj.apiVersion || !obj.metadata?.name) continue;
    const ref = await mapper.mapping(obj.apiVersion, obj.kind, signal);
    if (!ref) throw new Error(`the release holds ${obj.apiVersion} ${obj.kind} ${obj.metadata.name}, which the cluster does not serve`);
    if (ref.namespaced) obj.metadata.namespace ||= namespace;
    else delete obj.metadata.namespace;
    obj.metadata.labels = { ...obj.metadata.labels, "app.kubernetes.io/managed-by": "Helm" };
    obj.metadata.annotations = { ...obj.metadata.annotations, "meta.helm.sh/release-name": release.name, "meta.helm.sh/release-namespace": release.namespace };
    out.push({ ref, desired: obj, subject: `${obj.kind}/${obj.metadata.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata.name}` });
  }
  return out;
}

function ruleMatches(rule: IgnoreRule, obj: KubeObject): boolean {
  const t = rule.target;
  if (!t) return true;
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/", 2) : ["", obj.apiVersion];
  if (t.group !== undefined && t.group !== group) return false;
  if (t.version && t.version !== version) return false;
  if (t.kind && t.kind !== obj.kind) return false;
  if (t.name && t.name !== obj.metadata.name) return false;
  if (t.namespace && t.namespace !== obj.metadata.namespace) return false;
  if (t.labelSelector && !selectorMatches(parseLabelSelector(t.labelSelector), obj.metadata.labels)) return false;
  if (t.annotationSelector && !selectorMatches(parseLabelSelector(t.annotationSelector), obj.metadata.annotations)) return false;
  return true;
}

/** Removes the field at a JSON pointer (RFC 6901), when present. */
function removePointer(obj: unknown, pointer: string): void {
  const parts = pointer.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (parts.length === 0) return;
  let cur: unknown = obj;
  for (const p of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== "object") return;
    cur = (cur as Record<string, unknown>)[p];
  }
  const last = parts[parts.length - 1]!;
  if (Array.isArray(cur)) {
    const i = Number(last);
    if (Number.isInteger(i) && i >= 0 && i < cur.length) cur.splice(i, 1);
  } else if (cur !== null && typeof cur === "object") {
    delete (cur as Record<string, unknown>)[last];
  }
}

/** The desired object without the fields the ignore rules name for it. */
export function withoutIgnored(obj: KubeObject, rules: readonly IgnoreRule[] | undefined): KubeObject {
  const matching = (rules ?? []).filter((r) => ruleMatches(r, obj));
  if (matching.length === 0) return obj;
  const copy = structuredClone(obj);
  for (const r of matching) for (const p of r.paths ?? []) removePointer(copy, p);
  return copy;
}

/** The fields a comparison looks at: the manifest's, with metadata reduced to labels and annotations. */
function comparable(obj: unknown, desired: KubeObject): string {
  const { metadata, status: _status, ...rest } = desired as KubeObject & { status?: unknown };
  return JSON.stringify(project(obj, { ...rest, metadata: { labels: metadata.labels, annotations: metadata.annotations } }));
}

/** Compares each object with the cluster; returns the drifted ones and, for the others, the live object. */
export async function detectDrift(
  client: KubeClient,
  objects: readonly ReleaseObject[],
  ignore: readonly IgnoreRule[] | undefined,
  signal?: AbortSignal,
): Promise<{ drifted: Drifted[]; live: Map<ReleaseObject, Record<string, unknown>> }> {
  const drifted: Drifted[] = [];
  const live = new Map<ReleaseObject, Record<string, unknown>>();
  await Promise.all(
    objects.map(async (o) => {
      const desired = withoutIgnored(o.desired, ignore);
      let current: Record<string, unknown>;
      try {
        current = await client.get<Record<string, unknown>>(o.ref, o.desired.metadata.namespace, o.desired.metadata.name, { signal });
      } catch (err) {
        if (isNotFound(err)) return void drifted.push({ ...o, desired, change: "deleted" });
        throw err;
      }
      if ((current.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp) return void drifted.push({ ...o, desired, change: "deleted" });
      const dry = await client.apply<Record<string, unknown>>(o.ref, desired, DriftFieldManager, { dryRun: true, signal });
      if (comparable(current, desired) !== comparable(dry.object, desired)) drifted.push({ ...o, desired, change: "modified" });
      else live.set(o, current);
    }),
  );
  return { drifted, live };
}

/** Server-side apply of the drifted objects (a deleted one is created again); returns what was stored. */
export async function correctDrift(client: KubeClient, drifted: readonly Drifted[], signal?: AbortSignal): Promise<Map<Drifted, Record<string, unknown>>> {
  const stored = new Map<Drifted, Record<string, unknown>>();
  for (const d of drifted) {
    const res = await client.apply<Record<string, unknown>>(d.ref, d.desired, DriftFieldManager, { signal });
    stored.set(d, res.object);
  }
  return stored;
}

/** "Deployment/ns/app (modified), Service/ns/app (deleted)". */
export function describeDrift(drifted: readonly Drifted[]): string {
  return drifted.map((d) => `${d.subject} (${d.change})`).join(", ");
}
