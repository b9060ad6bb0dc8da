// Artifact storage: files under --storage-path, written atomically (temp file + rename in the same
// directory), garbage-collected per object, and served read-only over HTTP at --storage-addr.
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

const tempPrefix = ".tmp-";

export class Storage {
  constructor(
    readonly root: string,
    /** Host[:port] clients use to reach the server (the advertised address). */
    readonly advertisedAddr: string,
  ) {}

  /** Relative directory of an object's artifacts: "<kind>/<namespace>/<name>". */
  objectDir(kind: string, namespace: string, name: string): string {
    return `${kind.toLowerCase()}/${namespace}/${name}`;
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

  /** Removes an object's older artifacts, keeping `keep` newest files and always `current`. Returns removed paths. */
  async garbageCollect(dir: string, current: string, keep = 2): Promise<string[]> {
    const full = this.localPath(dir);
    let names: string[];
    try {
      names = await fs.promises.readdir(full);
    } catch {
      return [];
    }
    const files = await Promise.all(
      names
        .filter((n) => !n.startsWith(tempPrefix))
        .map(async (n) => ({ rel: `${dir}/${n}`, mtime: (await fs.promises.stat(path.join(full, n))).mtimeMs })),
    );
    files.sort((a, b) => b.mtime - a.mtime);
    const keepSet = new Set([current, ...files.slice(0, keep).map((f) => f.rel)]);
    const removed: string[] = [];
    for (const f of files) {
      if (keepSet.has(f.rel)) continue;
      await fs.promises.rm(this.localPath(f.rel), { force: true });
      removed.push(f.rel);
    }
    return removed;
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
