import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hashTree, imageCacheRoot, writeLayerTar } from "../../../local/imagecache";

async function tmpdir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), "mooring-layer-"));
}

describe("image cache", () => {
  it("lives under XDG_CACHE_HOME when set, else ~/.cache", () => {
    assert.equal(imageCacheRoot({ XDG_CACHE_HOME: "/x/cache" }), "/x/cache/mooring/images");
    assert.equal(imageCacheRoot({}), path.join(os.homedir(), ".cache", "mooring", "images"));
  });

  it("writes layers owned by root, nothing group- or world-writable, same bytes for the same tree", async () => {
    const dir = await tmpdir();
    try {
      const stage = path.join(dir, "stage");
      await fs.mkdir(path.join(stage, "app", "bin"), { recursive: true });
      await fs.writeFile(path.join(stage, "app", "bin", "run"), "#!/bin/sh\n");
      await fs.chmod(path.join(stage, "app", "bin", "run"), 0o777);
      await fs.writeFile(path.join(stage, "app", "data.json"), "{}");
      await fs.chmod(path.join(stage, "app", "data.json"), 0o600);
      await fs.symlink("bin/run", path.join(stage, "app", "link"));
      if (process.getuid?.() === 0) await fs.chown(path.join(stage, "app", "data.json"), 1234, 1234);
      await writeLayerTar(stage, path.join(dir, "a.tar"));
      const listing = execFileSync("tar", ["--numeric-owner", "-tvf", path.join(dir, "a.tar")], { encoding: "utf8" }).trim().split("\n");
      const byName = new Map(listing.map((l) => [l.split(/\s+/)[5]!, l.split(/\s+/)]));
      assert.deepEqual([...byName.keys()], ["app/", "app/bin/", "app/bin/run", "app/data.json", "app/link"]);
      for (const [name, f] of byName) assert.equal(f[1], "0/0", `${name} owned by root`);
      assert.equal(byName.get("app/bin/run")![0], "-rwxr-xr-x");
      assert.equal(byName.get("app/data.json")![0], "-rw-r--r--", "readable by the image's non-root user");
      assert.equal(byName.get("app/")![0], "drwxr-xr-x");
      assert.match(byName.get("app/link")![0]!, /^l/);
      assert.ok(listing.some((l) => l.includes("app/link -> bin/run")), "symlinks kept as links");
      await new Promise((r) => setTimeout(r, 1100));
      await fs.utimes(path.join(stage, "app", "data.json"), new Date(), new Date());
      await writeLayerTar(stage, path.join(dir, "b.tar"));
      assert.deepEqual(await fs.readFile(path.join(dir, "a.tar")), await fs.readFile(path.join(dir, "b.tar")), "reproducible");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses an empty layer", async () => {
    const dir = await tmpdir();
    try {
      await fs.mkdir(path.join(dir, "stage"));
      await assert.rejects(writeLayerTar(path.join(dir, "stage"), path.join(dir, "x.tar")), /is empty/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("hashes a tree by names, executable bits and contents", async () => {
    const dir = await tmpdir();
    try {
      await fs.mkdir(path.join(dir, "d"));
      await fs.writeFile(path.join(dir, "d", "f.js"), "a");
      const first = await hashTree(dir);
      assert.equal(await hashTree(dir), first);
      await fs.writeFile(path.join(dir, "d", "f.js"), "b");
      const changed = await hashTree(dir);
      assert.notEqual(changed, first);
      await fs.chmod(path.join(dir, "d", "f.js"), 0o755);
      assert.notEqual(await hashTree(dir), changed);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
