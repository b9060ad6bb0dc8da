// Many Kustomizations share one artifact (one GitRepository, N paths). Each revision is downloaded,
// verified and unpacked once and kept in memory (a few revisions, bounded in bytes), indexed by path; a build
// takes only the entries it reads.
import { withDeadline } from "../runtime/abort";
import { downloadArtifact, unpackArtifact, safeRelativePath, type TarEntry } from "./artifact";
import { kustomizationFileNames } from "./generate";

/** The unpacked entries of one artifact, indexed by their (safe, normalised) paths. */
export class ArtifactFiles {
  /** Files and directories by path, sorted; undefined when an entry is unsafe, a link or a special file. */
  private readonly sorted: { path: string; entry: TarEntry }[] | undefined;

  constructor(readonly entries: TarEntry[]) {
    const sorted: { path: string; entry: TarEntry }[] = [];
    for (const e of entries) {
      let p: string;
      try {
        p = safeRelativePath(e.path);
      } catch {
        this.sorted = undefined; // extraction reports the unsafe path
        return;
      }
      if (e.type !== "file" && e.type !== "dir") {
        this.sorted = undefined; // links and special files: extraction handles them
        return;
      }
      sorted.push({ path: p, entry: e });
    }
    this.sorted = sorted.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  get bytes(): number {
    return this.entries.reduce((n, e) => n + (e.data?.length ?? 0) + 512, 0);
  }

  /**
   * The files under `rel` (paths relative to it) when the artifact is plain files and directories and the
   * subtree holds no kustomization file: nothing outside it can then be referenced. Else undefined.
   */
  plainSubtree(rel: string): { path: string; data: Buffer }[] | undefined {
    if (!this.sorted || rel === "") return undefined;
    const prefix = `${rel}/`;
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]!.path < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: { path: string; data: Buffer }[] = [];
    for (let i = lo; i < this.sorted.length && this.sorted[i]!.path.startsWith(prefix); i++) {
      const { path, entry } = this.sorted[i]!;
      const sub = path.slice(prefix.length);
      if (kustomizationFileNames.includes(sub.slice(sub.lastIndexOf("/") + 1))) return undefined;
      if (entry.type === "file") out.push({ path: sub, data: entry.data ?? Buffer.alloc(0) });
    }
    return out.length ? out : undefined; // missing (or a file): reported from the full tree
  }

  /**
   * The entries a build of `rel` needs written out: only the subtree when it is plain (see plainSubtree) and
   * the spec names no components; else all entries, so every check runs as on a full extraction.
   */
  forBuild(rel: string, hasComponents: boolean): TarEntry[] {
    if (hasComponents || !this.plainSubtree(rel)) return this.entries;
    const prefix = `${rel}/`;
    return this.sorted!.filter((x) => x.path.startsWith(prefix)).map((x) => x.entry);
  }
}

export interface ArtifactCacheOptions {
  /** Revisions kept (least recently used leaves first). Default 8. */
  maxArtifacts?: number;
  /** Unpacked bytes kept in all. Default 48 MiB; a larger artifact is used but not kept. */
  maxBytes?: number;
  /** Budget of one shared download. Default 2 minutes. */
  timeoutMs?: number;
  download?: (url: string, digest: string | undefined, signal: AbortSignal) => Promise<Buffer>;
}

interface Cached {
  files: Promise<ArtifactFiles>;
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
    this.maxBytes = o.maxBytes ?? 48 << 20;
    this.timeoutMs = o.timeoutMs ?? 120_000;
    this.download = o.download ?? downloadArtifact;
  }

  /** The unpacked, indexed artifact at url with digest; concurrent callers share one download. */
  async files(url: string, digest: string | undefined, signal: AbortSignal): Promise<ArtifactFiles> {
    if (!digest) return new ArtifactFiles(unpackArtifact(await this.download(url, digest, signal))); // download refuses it
    const key = `${digest} ${url}`;
    let c = this.cache.get(key);
    if (c) {
      this.cache.delete(key);
      this.cache.set(key, c);
    } else {
      const entry: Cached = { files: withDeadline(undefined, this.timeoutMs, (shared) => this.download(url, digest, shared)).then((b) => new ArtifactFiles(unpackArtifact(b))), bytes: 0 };
      c = entry;
      this.cache.set(key, entry);
      entry.files.then(
        (files) => {
          entry.bytes = files.bytes;
          this.evict();
        },
        () => {
          if (this.cache.get(key) === entry) this.cache.delete(key);
        },
      );
    }
    return abortable(c.files, signal);
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
