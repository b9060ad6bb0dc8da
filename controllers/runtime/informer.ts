// A shared informer per kind: list, then watch from the list's resourceVersion; resumes from the last
// seen resourceVersion (bookmarks advance it) and re-lists when the server answers 410 Gone. It may be
// limited to a namespace and a label selector, keep a reduced copy of each object, and keep indexes
// (value → keys) so that mapping an event to the objects it concerns never scans the cache.
import type { Logger } from "pino";
import { isGone, type KubeClient, type KubeObject, type ResourceRef } from "./kube";
import { backoffDelay, sleep, type BackoffPolicy } from "../api/wait";

export { sleep } from "../api/wait";

export type InformerEvent = "add" | "update" | "delete";
export type InformerHandler<T> = (event: InformerEvent, obj: T, old?: T) => void;

export const objectKey = (o: { metadata: { namespace?: string; name: string } }): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export interface InformerOptions<T> {
  /** Watch this namespace only (default: all). */
  namespace?: string;
  /** Watch only objects with these labels, in the Kubernetes selector syntax ("a=b,!c"). */
  labelSelector?: string;
  /**
   * What the cache keeps of an object (handlers still see the whole object of an event). Default: all but
   * metadata.managedFields, the largest part of most objects, which no reader of the cache needs.
   */
  keep?: (obj: T) => T;
  /** Delays between failed watches (default 500 ms doubling to 30 s). */
  retry?: BackoffPolicy;
}

/** Values an object is indexed under (e.g. the key of the source it references). */
export type IndexFunc<T> = (obj: T) => Iterable<string>;

const watchRetry: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };

const withoutManagedFields = <T extends KubeObject>(obj: T): T => {
  delete (obj.metadata as { managedFields?: unknown }).managedFields;
  return obj;
};

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  /** index name → value → keys */
  private readonly indexes = new Map<string, { fn: IndexFunc<T>; byValue: Map<string, Set<string>> }>();
  private resourceVersion = "";
  private synced = false;
  private running = false;
  private syncWaiters: (() => void)[] = [];
  private readonly opts: InformerOptions<T>;
  /** How many times a full list was done (1 + re-lists after 410); exposed for tests and metrics. */
  lists = 0;

  constructor(
    private readonly client: KubeClient,
    readonly ref: ResourceRef,
    private readonly log: Logger,
    /** The namespace to watch, or all options. */
    scope?: string | InformerOptions<T>,
    /** Resume watching from this resourceVersion instead of listing first (a 410 still re-lists). */
    resumeFrom?: string,
  ) {
    this.opts = typeof scope === "string" ? { namespace: scope } : { ...scope };
    this.resourceVersion = resumeFrom ?? "";
  }

  /** The label selector this informer watches with, if any. */
  get labelSelector(): string | undefined {
    return this.opts.labelSelector;
  }

  /** Limits the informer to objects matching selector; only before it runs (the cache would mix both). */
  select(labelSelector: string | undefined): void {
    if (this.running) throw new Error(`informer for ${this.ref.plural} is running: its label selector cannot change`);
    this.opts.labelSelector = labelSelector || undefined;
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
    for (const obj of this.store.values()) handler("add", obj);
  }

  /** Adds an index; `byIndex(name, value)` then answers which cached objects map to value. */
  addIndex(name: string, fn: IndexFunc<T>): void {
    if (this.indexes.has(name)) throw new Error(`index "${name}" already exists on the ${this.ref.plural} informer`);
    const index = { fn, byValue: new Map<string, Set<string>>() };
    this.indexes.set(name, index);
    for (const [key, obj] of this.store) this.indexOne(index, key, obj);
  }

  /** Keys of the cached objects indexed under value. */
  byIndex(name: string, value: string): string[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index "${name}" on the ${this.ref.plural} informer`);
    return [...(index.byValue.get(value) ?? [])];
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  listCached(): T[] {
    return [...this.store.values()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(signal: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.syncWaiters.push(resolve);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.running = true;
    let failures = 0;
    const query = this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {};
    while (!signal.aborted) {
      try {
        if (!this.resourceVersion) await this.relist(signal);
        for await (const ev of this.client.watch<T>(this.ref, this.opts.namespace, this.resourceVersion, signal, 300, query)) {
          failures = 0;
          this.markSynced();
          this.apply(ev.type, ev.object);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.log.info({ resource: this.ref.plural }, "watch expired (410 Gone), re-listing");
          this.resourceVersion = "";
          continue;
        }
        failures++;
        const delay = backoffDelay(failures, this.opts.retry ?? watchRetry);
        this.log.warn({ resource: this.ref.plural, err: (err as Error).message, retryInMs: delay }, "watch failed");
        await sleep(delay, signal);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.client.list<T>(this.ref, this.opts.namespace, { signal, query: { limit: 500, continue: cont, labelSelector: this.opts.labelSelector } });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    this.lists++;
    const seen = new Set<string>();
    for (const item of items) {
      // List items carry no apiVersion/kind; fill them so cached objects look like watched ones.
      const typed = { ...item, apiVersion: apiVersionOf(this.ref), kind: item.kind || this.ref.kind } as T;
      seen.add(objectKey(typed));
      this.apply("MODIFIED", typed);
    }
    for (const [key, old] of [...this.store]) if (!seen.has(key)) this.apply("DELETED", old);
    this.resourceVersion = rv;
    this.markSynced();
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private apply(type: string, obj: T): void {
    if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (type === "BOOKMARK") return;
    const key = objectKey(obj);
    const old = this.store.get(key);
    if (type === "DELETED") {
      this.store.delete(key);
      if (old) this.unindex(key, old);
      this.emit("delete", obj, old);
      return;
    }
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    const kept = (this.opts.keep ?? withoutManagedFields)(obj);
    if (old) this.unindex(key, old);
    this.store.set(key, kept);
    for (const index of this.indexes.values()) this.indexOne(index, key, kept);
    this.emit(old ? "update" : "add", obj, old);
  }

  private indexOne(index: { fn: IndexFunc<T>; byValue: Map<string, Set<string>> }, key: string, obj: T): void {
    for (const value of index.fn(obj)) {
      let keys = index.byValue.get(value);
      if (!keys) index.byValue.set(value, (keys = new Set()));
      keys.add(key);
    }
  }

  private unindex(key: string, obj: T): void {
    for (const index of this.indexes.values()) {
      for (const value of index.fn(obj)) {
        const keys = index.byValue.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.byValue.delete(value);
      }
    }
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "informer handler failed");
      }
    }
  }
}

const apiVersionOf = (ref: ResourceRef): string => (ref.group ? `${ref.group}/${ref.version}` : ref.version);
