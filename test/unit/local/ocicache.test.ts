import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { layerFromDir, pruneLayerCache, writeOciArchive } from "../../../local/oci";

describe("OCI archives with a layer cache", () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "oci-cache-test-"));
    await fs.mkdir(path.join(dir, "tree"));
    await fs.writeFile(path.join(dir, "tree", "file"), "one\n");
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  test("an unchanged layer is compressed once; a changed one again; prune drops what no layer matches", async () => {
    const cache = path.join(dir, "cache");
    const layer = await layerFromDir(path.join(dir, "tree"), path.join(dir, "layer.tar"));
    const spec = { ref: "example.test/app:1", layers: [layer], config: { entrypoint: ["/file"] }, layerCache: cache };
    const plain = await writeOciArchive(path.join(dir, "plain.tar"), { ...spec, layerCache: undefined });
    const first = await writeOciArchive(path.join(dir, "a.tar"), spec);
    assert.equal(first.manifestDigest, plain.manifestDigest, "the cache does not change the image");
    const gz = (await fs.readdir(cache)).filter((n) => n.endsWith(".gz"));
    assert.equal(gz.length, 1);
    const stored = path.join(cache, gz[0]!);
    const before = (await fs.stat(stored)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const second = await writeOciArchive(path.join(dir, "b.tar"), spec);
    assert.equal(second.manifestDigest, first.manifestDigest);
    assert.equal((await fs.stat(stored)).mtimeMs, before, "the stored layer was reused, not written again");

    await fs.writeFile(path.join(dir, "tree", "file"), "two\n");
    await layerFromDir(path.join(dir, "tree"), layer);
    const third = await writeOciArchive(path.join(dir, "c.tar"), spec);
    assert.notEqual(third.manifestDigest, first.manifestDigest, "a changed layer is not taken from the cache");
    assert.equal((await fs.readdir(cache)).filter((n) => n.endsWith(".gz")).length, 2);
    await pruneLayerCache(cache);
    const left = (await fs.readdir(cache)).filter((n) => n.endsWith(".gz"));
    assert.equal(left.length, 1, "the entry of the old layer file is gone");
    assert.notEqual(left[0], gz[0]);
  });
});
