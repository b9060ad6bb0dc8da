// Artifact storage: files under --storage-path, written atomically (temp file + rename in the same
// directory), named and kept as Flux's source-controller does (<kind>/<namespace>/<name>/<file>, retention by
// --artifact-retention-ttl and --artifact-retention-records, a "latest" link), and served read-only over HTTP
// at --storage-addr.
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { parseDuration } from "./duration";

const tempPrefix = ".tmp-";

/** How long superseded artifacts are kept, and how many artifacts of an object at most. */
export interface Retention {
  /** --artifact-retention-ttl: artifacts other than the current one older than this are removed. */
  ttlMs: number;
  /** --artifact-retention-records: at most this many artifacts per object (the current one included). */
  records: number;
}

/** Flux's defaults: --artifact-retention-ttl=60s, --artifact-retention-records=2. */
export const defaultRetention: Retention = { ttlMs: 60_000, records: 2 };

/** The retention from the flags' values (Go durations, a count); unset values take Flux's defaults. */
export function retentionFromFlags(ttl?: string, records?: string): Retention {
  const out = { ...defaultRetention };
  if (ttl !== undefined) {
    try {
      out.ttlMs = parseDuration(ttl);
    } catch {
      throw new Error(`--artifact-retention-ttl: invalid duration "${ttl}" (e.g. 60s, 5m, 1h)`);
    }
  }
  if (records !== undefined) {
    if (!/^\d+$/.test(records.trim())) throw new Error(`--artifact-retention-records: "${records}" is not a non-negative whole number`);
    out.records = Number.parseInt(records, 10);
  }
  return out;
}

/** Relative directory of an object's artifacts: "<kind>/<namespace>/<name>" (kind in lower case). */
export function objectDir(kind: string, namespace: string, name: string): string {
  return `${kind.toLowerCase()}/${namespace}/${name}`;
}

/** The name of the symbolic link to an object's current artifact, beside it. */
export const latestLinkName = "latest.tar.gz";

/**
 * A GitRepository artifact's file name, as Flux names it: "<commit sha>.tar.gz", the sha taken from a revision
 * in any of Flux's forms ("main@sha1:<sha>", "sha1:<sha>", "refs/tags/v1@sha256:<sha>", "<sha>").
 */
export function gitArtifactFileName(revision: string): string {
  const sha = /(?:^|@|:)([0-9a-f]{40}|[0-9a-f]{64})$/.exec(revision)?.[1];
  if (!sha) throw new Error(`revision "${revision}" does not end in a commit sha`);
  return `${sha}.tar.gz`;
}

/** The relative path of a GitRepository artifact: "gitrepository/<namespace>/<name>/<commit sha>.tar.gz". */
export function gitArtifactPath(namespace: string, name: string, revision: string): string {
  return `${objectDir("GitRepository", namespace, name)}/${gitArtifactFileName(revision)}`;
}

/** One file in an object's artifact directory. */
export interface StoredFile {
  /** Path relative to the storage root. */
  rel: string;
  mtimeMs: number;
  /** Symbolic links (the latest link) are never garbage. */
  symlink?: boolean;
}

/**
 * The artifact files to remove, after Flux's rules: every file but the current artifact older than the TTL;
 * then, while more than `records` remain, the oldest ones. Links, lock files and temp files are left alone.
 */
export function garbageFiles(files: readonly StoredFile[], current: string, retention: Retention, now: number): string[] {
  const artifacts = files.filter((f) => !f.symlink && !f.rel.endsWith(".lock") && !path.posix.basename(f.rel).startsWith(tempPrefix));
  const garbage = new Set(artifacts.filter((f) => f.rel !== current && now - f.mtimeMs > retention.ttlMs).map((f) => f.rel));
  const remaining = artifacts.filter((f) => !garbage.has(f.rel)).sort((a, b) => a.mtimeMs - b.mtimeMs);
  let count = remaining.length;
  for (const f of remaining) {
    if (count <= retention.records) break;
    if (f.rel === current) continue;
    garbage.add(f.rel);
    count--;
  }
  return artifacts.filter((f) => garbage.has(f.rel)).map((f) => f.rel);
}

export class Storage {
  constructor(
    readonly root: string,
    /** Host[:port] clients use to reach the server (the advertised address). */
    readonly advertisedAddr: string,
    readonly retention: Retention = defaultRetention,
  ) {}

  /** Relative directory of an object's artifacts: "<kind>/<namespace>/<name>". */
  objectDir(kind: string, namespace: string, name: string): string {
    return objectDir(kind, namespace, name);
  }

  localPath(rel: string): string {
    const full = path.resolve(this.root, rel);
    if (full !== this.root && !full.startsWith(this.root + path.sep)) throw new Error(`artifact path '${rel}' escapes the storage root`);
    return full;
  }

  url(rel: string): string {
    return `http://${this.advertisedAddr}/${rel.split("/").map(encodeURIComponent).join("/")}`;
  }

  exists(rel: string): boolean {
    try {
      return fs.statSync(this.localPath(rel)).isFile();
    } catch {
      return false;
    }
  }

  /** A fresh temp file in the object's directory; rename it into place with commit(). */
  async tempFile(dir: string): Promise<string> {
    const full = this.localPath(dir);
    await fs.promises.mkdir(full, { recursive: true });
    return path.join(full, `${tempPrefix}${randomBytes(8).toString("hex")}`);
  }

  async commit(temp: string, rel: string): Promise<void> {
    await fs.promises.rename(temp, this.localPath(rel));
  }

  async discard(temp: string): Promise<void> {
    await fs.promises.rm(temp, { force: true });
  }

  /**
   * Removes an object's superseded artifacts per the retention (see garbageFiles), never `current`; `records`
   * overrides the retention's count. Returns the removed paths.
   */
  async garbageCollect(dir: string, current: string, records = this.retention.records): Promise<string[]> {
    const full = this.localPath(dir);
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(full, { withFileTypes: true });
    } catch {
      return [];
    }
    const files: StoredFile[] = [];
    for (const e of entries) {
      if (e.isDirectory()) continue;
      const st = await fs.promises.lstat(path.join(full, e.name)).catch(() => undefined);
      if (st) files.push({ rel: `${dir}/${e.name}`, mtimeMs: st.mtimeMs, symlink: st.isSymbolicLink() });
    }
    const removed: string[] = [];
    for (const rel of garbageFiles(files, current, { ...this.retention, records }, Date.now())) {
      await fs.promises.rm(this.localPath(rel), { force: true });
      await fs.promises.rm(this.localPath(`${rel}.lock`), { force: true });
      removed.push(rel);
    }
    return removed;
  }

  /**
   * Points the object's latest link (latest.tar.gz beside the artifact) at `rel`, replacing it atomically.
   * Returns the link's relative path; its URL serves the current artifact.
   */
  async linkLatest(rel: string, linkName = latestLinkName): Promise<string> {
    const full = this.localPath(rel);
    const link = path.join(path.dirname(full), linkName);
    const temp = path.join(path.dirname(full), `${tempPrefix}${randomBytes(8).toString("hex")}`);
    await fs.promises.symlink(path.basename(full), temp);
    try {
      await fs.promises.rename(temp, link);
    } catch (err) {
      await fs.promises.rm(temp, { force: true });
      throw err;
    }
    return `${path.posix.dirname(rel)}/${linkName}`;
  }

  /** Touches an artifact so GC (newest first) keeps it when it becomes current again. */
  async touch(rel: string): Promise<void> {
    const now = new Date();
    await fs.promises.utimes(this.localPath(rel), now, now);
  }

  async removeDir(dir: string): Promise<void> {
    await fs.promises.rm(this.localPath(dir), { recursive: true, force: true });
  }

  /** Deletes temp files a crash may have left behind. */
  async removeStrayTempFiles(): Promise<number> {
    let count = 0;
    const walk = async (dir: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.name.startsWith(tempPrefix)) {
          await fs.promises.rm(full, { force: true });
          count++;
        }
      }
    };
    await walk(this.root);
    return count;
  }

  /** The HTTP file server for artifacts (GET/HEAD only, no directory listings, no temp files). */
  server(): http.Server {
    return http.createServer((req, res) => {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405).end();
        return;
      }
      let rel: string;
      try {
        rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).replace(/^\/+/, "");
      } catch {
        res.writeHead(400).end();
        return;
      }
      let full: string;
      try {
        full = this.localPath(rel);
      } catch {
        res.writeHead(404).end();
        return;
      }
      if (path.basename(full).startsWith(tempPrefix)) {
        res.writeHead(404).end();
        return;
      }
      fs.stat(full, (err, st) => {
        if (err || !st.isFile()) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "content-type": "application/gzip", "content-length": st.size });
        if (req.method === "HEAD") return res.end();
        fs.createReadStream(full).on("error", () => res.destroy()).pipe(res);
      });
    });
  }
}
