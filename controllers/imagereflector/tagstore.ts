// The tags of each scanned repository, one file per canonical image name under the storage path: written
// atomically at the end of a scan, read by the ImagePolicies that use it. Kept on disk, not in memory, so a
// restarted controller keeps its scan results and a cluster's worth of tags costs no resident memory.
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";

export class TagStore {
  constructor(readonly dir: string) {}

  private file(canonical: string): string {
    const readable = canonical.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120);
    const hash = createHash("sha256").update(canonical).digest("hex").slice(0, 16);
    return path.join(this.dir, `${readable}-${hash}.tags`);
  }

  async set(canonical: string, tags: readonly string[]): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const target = this.file(canonical);
    const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
    await fs.promises.writeFile(temp, tags.length ? tags.join("\n") + "\n" : "");
    await fs.promises.rename(temp, target);
  }

  /** The stored tags; undefined when the repository was never scanned here. */
  async get(canonical: string): Promise<string[] | undefined> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file(canonical), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return text ? text.slice(0, -1).split("\n") : [];
  }

  has(canonical: string): boolean {
    return fs.existsSync(this.file(canonical));
  }

  async remove(canonical: string): Promise<void> {
    await fs.promises.rm(this.file(canonical), { force: true });
  }
}
