// A shared informer per kind: list, then watch from the list's resourceVersion; resumes from the last
// seen resourceVersion (bookmarks advance it) and re-lists when the server answers 410 Gone.
import type { Logger } from "pino";
import { isGone, type KubeClient, type KubeObject, type ResourceRef } from "./kube";

export type InformerEvent = "add" | "update" | "delete";
export type InformerHandler<T> = (event: InformerEvent, obj: T, old?: T) => void;

export const objectKey = (o: { metadata: { namespace?: string; name: string } }): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private resourceVersion = "";
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  /** How many times a full list was done (1 + re-lists after 410); exposed for tests and metrics. */
  lists = 0;

  constructor(
    private readonly client: KubeClient,
    readonly ref: ResourceRef,
    private readonly log: Logger,
    private readonly namespace?: string,
    /** Resume watching from this resourceVersion instead of listing first (a 410 still re-lists). */
    resumeFrom?: string,
  ) {
    this.resourceVersion = resumeFrom ?? "";
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
    for (const obj of this.store.values()) handler("add", obj);
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
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!this.resourceVersion) await this.relist(signal);
        for await (const ev of this.client.watch<T>(this.ref, this.namespace, this.resourceVersion, signal)) {
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
        const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
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
      const page = await this.client.list<T>(this.ref, this.namespace, { signal, query: { limit: 500, continue: cont } });
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
    // managedFields are the largest part of most objects and no reader of the cache needs them; writes
    // that omit them leave the server's copy as is.
    delete (obj.metadata as { managedFields?: unknown }).managedFields;
    const key = objectKey(obj);
    const old = this.store.get(key);
    if (type === "DELETED") {
      this.store.delete(key);
      this.emit("delete", obj, old);
      return;
    }
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.store.set(key, obj);
    this.emit(old ? "update" : "add", obj, old);
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

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
