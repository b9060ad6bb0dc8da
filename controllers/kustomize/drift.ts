// Drift in seconds: one label-selected watch per kind that any inventory holds. When an applied object is
// changed (in a field we apply) by anyone but us, or deleted by anyone but our prune, the owning
// Kustomization is enqueued at once; its next reconcile re-applies. The baseline of an object is the
// projection of the stored object onto the fields of the desired manifest, taken after our apply.
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { isGone, type KubeClient, type ResourceRef } from "../runtime/kube";
import { sleep } from "../runtime/informer";
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

interface Tracked {
  desired: Manifest;
  baseline: string;
}

export interface DriftEvent {
  owner: string;
  subject: string;
  kind: "modified" | "deleted";
  at: number;
}

export class DriftWatcher {
  /** owner key ("ns/name") → inventory id → tracked object */
  private readonly owners = new Map<string, Map<string, Tracked>>();
  private readonly watches = new Map<string, AbortController>();
  /** ids being deleted by prune or recreate, not drift */
  private readonly expectedDeletes = new Set<string>();
  private signal: AbortSignal | undefined;
  /** The last drift seen per owner (for logs and tests). */
  readonly lastDrift = new Map<string, DriftEvent>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly enqueue: (ownerKey: string, ev: DriftEvent) => void,
  ) {}

  /** Runs until the signal aborts; watches start as kinds are tracked. */
  async run(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
    for (const w of this.watches.values()) w.abort();
  }

  /** Records the applied state of one object (desired manifest + what the apiserver stored). */
  observe(ownerKey: string, ref: ResourceRef, desired: Manifest, stored: Record<string, unknown> | undefined): void {
    const id = formatId(objectIdOf(desired));
    let m = this.owners.get(ownerKey);
    if (!m) this.owners.set(ownerKey, (m = new Map()));
    m.set(id, { desired, baseline: fingerprint(stored ?? desired, desired) });
    this.expectedDeletes.delete(id);
    this.ensureWatch(ref);
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

  private ensureWatch(ref: ResourceRef): void {
    const key = `${ref.group}/${ref.version}/${ref.plural}`;
    if (this.watches.has(key) || !this.signal || this.signal.aborted) return;
    const ctl = new AbortController();
    this.watches.set(key, ctl);
    const signal = AbortSignal.any([this.signal, ctl.signal]);
    void this.watchLoop(ref, signal).catch((err) => this.log.error({ err: (err as Error).message, resource: key }, "drift watch stopped"));
  }

  private async watchLoop(ref: ResourceRef, signal: AbortSignal): Promise<void> {
    const query = { labelSelector: KustomizeNameLabel };
    let rv = "";
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!rv) {
          const list = await this.client.list<Record<string, unknown>>(ref, undefined, { signal, query });
          rv = list.metadata.resourceVersion;
        }
        for await (const ev of this.client.watch<Record<string, unknown> & { metadata: { resourceVersion?: string } }>(ref, undefined, rv, signal, 300, query)) {
          failures = 0;
          if (ev.object.metadata?.resourceVersion) rv = ev.object.metadata.resourceVersion;
          if (ev.type === "MODIFIED" || ev.type === "DELETED" || ev.type === "ADDED") this.handle(ev.type, ev.object as unknown as Manifest);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          rv = "";
          continue;
        }
        failures++;
        const delay = Math.min(10_000, 200 * 2 ** Math.min(failures, 6));
        this.log.warn({ resource: ref.plural, err: (err as Error).message, retryInMs: delay }, "drift watch failed");
        await sleep(delay, signal);
      }
    }
  }

  private handle(type: "ADDED" | "MODIFIED" | "DELETED", obj: Manifest): void {
    const labels = obj.metadata?.labels ?? {};
    const name = labels[KustomizeNameLabel];
    const ns = labels[KustomizeNamespaceLabel];
    if (!name || !ns) return;
    const ownerKey = `${ns}/${name}`;
    const id = formatId(objectIdOf(obj));
    const tracked = this.owners.get(ownerKey)?.get(id);
    if (!tracked) return;
    const subject = `${obj.kind}/${obj.metadata.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata.name}`;
    if (type === "DELETED") {
      if (this.expectedDeletes.delete(id)) return;
      this.report(ownerKey, subject, "deleted");
      return;
    }
    if ((obj.metadata as { deletionTimestamp?: string }).deletionTimestamp) return;
    if (fingerprint(obj, tracked.desired) === tracked.baseline) return;
    this.report(ownerKey, subject, "modified");
  }

  private report(owner: string, subject: string, kind: DriftEvent["kind"]): void {
    const ev: DriftEvent = { owner, subject, kind, at: Date.now() };
    this.lastDrift.set(owner, ev);
    this.log.info({ kustomization: owner, object: subject, drift: kind }, "drift detected, reconciling");
    this.enqueue(owner, ev);
  }
}
