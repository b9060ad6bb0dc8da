// Drift in seconds: one label-selected informer per kind that any inventory holds. When an applied object is
// changed (in a field we apply) by anyone but us, or deleted by anyone but our prune, a DriftEvent names the
// owning Kustomization, and the controller (which watches this source) reconciles it at once. The baseline of
// an object is the projection of the stored object onto the fields of the desired manifest, taken after our
// apply.
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { KubeClient, KubeObject, ResourceRef } from "../runtime/kube";
import { Informer, type InformerEvent } from "../runtime/informer";
import type { EventSource } from "../runtime/builder";
import { KustomizeNameLabel, KustomizeNamespaceLabel } from "../api/kustomize";
import { formatId, objectIdOf, type Manifest } from "./inventory";

/** The live object restricted to the fields (and list lengths) the desired manifest sets. */
export function project(live: unknown, desired: unknown): unknown {
  if (desired === undefined) return undefined;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return live;
    return desired.map((d, i) => project(live[i], d));
  }
  if (desired !== null && typeof desired === "object") {
    if (live === null || typeof live !== "object" || Array.isArray(live)) return live;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(desired)) out[k] = project((live as Record<string, unknown>)[k], (desired as Record<string, unknown>)[k]);
    return out;
  }
  return live;
}

/** A digest of the live object's projection onto the desired fields (a digest keeps thousands of baselines small). */
function fingerprint(live: unknown, desired: Manifest): string {
  const { metadata, status: _status, ...rest } = desired;
  return createHash("sha1").update(JSON.stringify(project(live, { ...rest, metadata: { labels: metadata.labels, annotations: metadata.annotations } }))).digest("base64");
}

/** The desired labels and annotations as they stand on the live object. */
function metadataPrint(live: { metadata?: unknown } | undefined, desired: Manifest): string {
  const { labels, annotations } = desired.metadata;
  return JSON.stringify(project(live?.metadata, { labels, annotations }));
}

interface Tracked {
  desired: Manifest;
  baseline: string;
  /**
   * metadata.generation of the stored object, when its kind has one, and the desired metadata on it: a watch
   * event with the same generation and the same metadata changed nothing we apply (a status write, say).
   */
  generation?: number;
  metadata: string;
}

export interface DriftEvent {
  owner: string;
  subject: string;
  kind: "modified" | "deleted";
  at: number;
}

/**
 * What the drift informers keep of an object: enough to name it and its owner (a deletion seen only by a
 * re-list reports the kept copy; watch events carry the whole object).
 */
const keepMeta = (obj: KubeObject): KubeObject => ({
  apiVersion: obj.apiVersion,
  kind: obj.kind,
  metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, resourceVersion: obj.metadata.resourceVersion, labels: obj.metadata.labels },
});

/** The labels naming an object's owner (name and namespace); a Kustomization's by default. */
export interface OwnerLabels {
  name: string;
  namespace: string;
}

export class DriftWatcher implements EventSource<DriftEvent> {
  /** owner key ("ns/name") → inventory id → tracked object */
  private readonly owners = new Map<string, Map<string, Tracked>>();
  private readonly informers = new Map<string, Informer<KubeObject>>();
  /** ids being deleted by prune or recreate, not drift */
  private readonly expectedDeletes = new Set<string>();
  private readonly handlers: ((ev: DriftEvent) => void)[] = [];
  private signal: AbortSignal | undefined;
  /** The last drift seen per owner (for logs and tests). */
  readonly lastDrift = new Map<string, DriftEvent>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly ownerLabels: OwnerLabels = { name: KustomizeNameLabel, namespace: KustomizeNamespaceLabel },
  ) {}

  subscribe(handler: (ev: DriftEvent) => void): void {
    this.handlers.push(handler);
  }

  /** Runs until the signal aborts; informers start as kinds are tracked. */
  async run(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
  }

  /** Records the applied state of one object (desired manifest + what the apiserver stored). */
  observe(ownerKey: string, ref: ResourceRef, desired: Manifest, stored: Record<string, unknown> | undefined): void {
    const id = formatId(objectIdOf(desired));
    let m = this.owners.get(ownerKey);
    if (!m) this.owners.set(ownerKey, (m = new Map()));
    const live = (stored ?? desired) as { metadata?: { generation?: number } };
    m.set(id, { desired, baseline: fingerprint(live, desired), generation: live.metadata?.generation, metadata: metadataPrint(live, desired) });
    this.expectedDeletes.delete(id);
    this.ensureInformer(ref);
  }

  /** Keeps only these ids for the owner (objects that left the build are no longer watched for it). */
  retain(ownerKey: string, ids: Set<string>): void {
    const m = this.owners.get(ownerKey);
    if (!m) return;
    for (const id of [...m.keys()]) if (!ids.has(id)) m.delete(id);
  }

  expectDelete(id: string): void {
    this.expectedDeletes.add(id);
  }

  forget(ownerKey: string): void {
    this.owners.delete(ownerKey);
  }

  /** One informer per kind, on the objects any owner applied (they carry its name label). */
  private ensureInformer(ref: ResourceRef): void {
    const key = `${ref.group}/${ref.version}/${ref.plural}`;
    if (this.informers.has(key) || !this.signal || this.signal.aborted) return;
    const informer = new Informer<KubeObject>(this.client, ref, this.log.child({ resource: ref.plural }), {
      labelSelector: this.ownerLabels.name,
      keep: keepMeta,
      retry: { baseMs: 400, maxMs: 10_000 },
    });
    informer.on((event, obj) => this.handle(event, obj as unknown as Manifest));
    this.informers.set(key, informer);
    void informer.run(this.signal).catch((err) => this.log.error({ err: (err as Error).message, resource: key }, "drift watch stopped"));
  }

  private handle(event: InformerEvent, obj: Manifest): void {
    const labels = obj.metadata?.labels ?? {};
    const name = labels[this.ownerLabels.name];
    const ns = labels[this.ownerLabels.namespace];
    if (!name || !ns) return;
    const ownerKey = `${ns}/${name}`;
    const id = formatId(objectIdOf(obj));
    const tracked = this.owners.get(ownerKey)?.get(id);
    if (!tracked) return;
    const subject = `${obj.kind}/${obj.metadata.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata.name}`;
    if (event === "delete") {
      if (this.expectedDeletes.delete(id)) return;
      this.report(ownerKey, subject, "deleted");
      return;
    }
    const meta = obj.metadata as { deletionTimestamp?: string; generation?: number };
    if (meta.deletionTimestamp) return;
    if (tracked.generation !== undefined && meta.generation === tracked.generation && metadataPrint(obj, tracked.desired) === tracked.metadata) return;
    if (fingerprint(obj, tracked.desired) === tracked.baseline) return;
    this.report(ownerKey, subject, "modified");
  }

  private report(owner: string, subject: string, kind: DriftEvent["kind"]): void {
    const ev: DriftEvent = { owner, subject, kind, at: Date.now() };
    this.lastDrift.set(owner, ev);
    this.log.info({ owner, object: subject, drift: kind }, "drift detected, reconciling");
    for (const handler of this.handlers) handler(ev);
  }
}
