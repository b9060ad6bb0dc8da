// Discovery-backed mapping from (apiVersion, kind) to REST resources, per group-version and lazily, so a CRD
// applied in an earlier stage is found once established (invalidate() drops a stale group-version).
import { isNotFound, type KubeClient, type ResourceRef } from "../runtime/kube";
import { groupOf, versionOf } from "./inventory";

interface APIResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

interface Entry {
  at: number;
  resources: Map<string, ResourceRef> | undefined;
}

/** How long a group-version that did not exist (or lacked the kind) is trusted before asking again. */
const negativeTtlMs = 1_000;
const positiveTtlMs = 10 * 60_000;

export class RestMapper {
  private readonly cache = new Map<string, Entry>();

  constructor(private readonly client: KubeClient) {}

  /** The resource for apiVersion/kind, or undefined when the apiserver does not serve it. */
  async mapping(apiVersion: string, kind: string, signal?: AbortSignal): Promise<ResourceRef | undefined> {
    let entry = this.cache.get(apiVersion);
    const now = Date.now();
    const stale = !entry || now - entry.at > positiveTtlMs || ((!entry.resources || !entry.resources.has(kind)) && now - entry.at > negativeTtlMs);
    if (stale) entry = await this.load(apiVersion, signal);
    return entry!.resources?.get(kind);
  }

  invalidate(apiVersion?: string): void {
    if (apiVersion) this.cache.delete(apiVersion);
    else this.cache.clear();
  }

  private async load(apiVersion: string, signal?: AbortSignal): Promise<Entry> {
    const group = groupOf(apiVersion);
    const version = versionOf(apiVersion);
    const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
    let entry: Entry;
    try {
      const list = await this.client.request<{ resources: APIResource[] }>("GET", path, { signal, timeoutMs: 15_000 });
      const resources = new Map<string, ResourceRef>();
      for (const r of list.resources ?? []) {
        if (r.name.includes("/")) continue;
        resources.set(r.kind, { kind: r.kind, group, version, plural: r.name, namespaced: r.namespaced });
      }
      entry = { at: Date.now(), resources };
    } catch (err) {
      if (!isNotFound(err)) throw err;
      entry = { at: Date.now(), resources: undefined };
    }
    this.cache.set(apiVersion, entry);
    return entry;
  }
}
