// Many Kustomizations share one artifact (one GitRepository, N paths). Each revision is downloaded,
// verified and unpacked once and kept in memory (a few revisions, bounded in bytes); a build writes out only
// the entries it reads.
import { downloadArtifact, unpackArtifact, safeRelativePath, type TarEntry } from "./artifact";
import { kustomizationFileNames } from "./generate";

export interface ArtifactCacheOptions {
  /** Revisions kept (least recently used leaves first). Default 8. */
  maxArtifacts?: number;
  /** Unpacked bytes kept in all. Default 128 MiB; a larger artifact is used but not kept. */
  maxBytes?: number;
  /** Budget of one shared download. Default 2 minutes. */
  timeoutMs?: number;
  download?: (url: string, digest: string | undefined, signal: AbortSignal) => Promise<Buffer>;
}

interface Cached {
  entries: Promise<TarEntry[]>;
  bytes: number;
}

export class ArtifactCache {
  private readonly cache = new Map<string, Cached>();
  private readonly maxArtifacts: number;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  private readonly download: NonNullable<ArtifactCacheOptions["download"]>;

  constructor(o: ArtifactCacheOptions = {}) {
    this.maxArtifacts = o.maxArtifacts ?? 8;
    this.maxBytes = o.maxBytes ?? 128 << 20;
    this.timeoutMs = o.timeoutMs ?? 120_000;
    this.download = o.download ?? downloadArtifact;
  }

  /** The unpacked entries of the artifact at url with digest; concurrent callers share one download. */
  async entries(url: string, digest: string | undefined, signal: AbortSignal): Promise<TarEntry[]> {
    if (!digest) return unpackArtifact(await this.download(url, digest, signal)); // download refuses it
    const key = `${digest} ${url}`;
    let c = this.cache.get(key);
    if (c) {
      this.cache.delete(key);
      this.cache.set(key, c);
    } else {
      const shared = AbortSignal.timeout(this.timeoutMs);
      const entry: Cached = { entries: this.download(url, digest, shared).then(unpackArtifact), bytes: 0 };
      c = entry;
      this.cache.set(key, entry);
      entry.entries.then(
        (list) => {
          entry.bytes = list.reduce((n, e) => n + (e.data?.length ?? 0) + 512, 0);
          this.evict();
        },
        () => {
          if (this.cache.get(key) === entry) this.cache.delete(key);
        },
      );
    }
    return abortable(c.entries, signal);
  }

  get size(): number {
    return this.cache.size;
  }

  private evict(): void {
    let total = [...this.cache.values()].reduce((n, c) => n + c.bytes, 0);
    for (const [key, c] of this.cache) {
      if (this.cache.size <= this.maxArtifacts && total <= this.maxBytes) break;
      this.cache.delete(key);
      total -= c.bytes;
    }
  }
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * The entries a build of `rel` needs: only the subtree when the artifact is plain files and directories, the
 * subtree has no kustomization file and the spec names no components (nothing outside it can then be
 * referenced); else all entries, so every check runs as on a full extraction.
 */
export function entriesFor(entries: TarEntry[], rel: string, hasComponents: boolean): TarEntry[] {
  if (rel === "" || hasComponents) return entries;
  const prefix = `${rel}/`;
  const subset: TarEntry[] = [];
  for (const e of entries) {
    let p: string;
    try {
      p = safeRelativePath(e.path);
    } catch {
      return entries; // extraction reports the unsafe path
    }
    if (e.type !== "file" && e.type !== "dir") return entries; // links and special files: as before
    if (p !== rel && !p.startsWith(prefix)) continue;
    if (kustomizationFileNames.includes(p.slice(p.lastIndexOf("/") + 1))) return entries;
    subset.push(e);
  }
  return subset.length ? subset : entries; // missing (or reached through a symlink): as before

}
