import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import * as zlib from "node:zlib";
import * as tar from "tar";
import { layerFromDir, mediaTypes, splitRef, writeOciArchive } from "../../../local/oci";

const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Every file of a tar as path → bytes, with each entry's header. */
async function readTar(file: string): Promise<Map<string, { data: Buffer; uid?: number; gid?: number; mode?: number }>> {
  const out = new Map<string, { data: Buffer; uid?: number; gid?: number; mode?: number }>();
  await tar.t({
    file,
    onReadEntry: (e) => {
      const chunks: Buffer[] = [];
      e.on("data", (c: Buffer) => chunks.push(c));
      e.on("end", () => out.set(e.path.replace(/^\.\//, ""), { data: Buffer.concat(chunks), uid: e.uid, gid: e.gid, mode: e.mode }));
    },
  });
  return out;
}

describe("OCI image archives", () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "oci-test-"));
    await fs.mkdir(path.join(dir, "tree", "bin"), { recursive: true });
    await fs.writeFile(path.join(dir, "tree", "bin", "hello"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
    await fs.writeFile(path.join(dir, "tree", "README"), "a file\n", { mode: 0o644 });
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  test("splitRef separates repository, tag and digest", () => {
    assert.deepEqual(splitRef("ghcr.io/mooring/controllers:v0.1.0"), { repository: "ghcr.io/mooring/controllers", tag: "v0.1.0" });
    assert.deepEqual(splitRef("127.0.0.1:5000/app"), { repository: "127.0.0.1:5000/app", tag: "latest" });
    assert.deepEqual(splitRef("r/app@sha256:ab"), { repository: "r/app", digest: "sha256:ab" });
  });

  test("a layer from a directory is root-owned, keeps modes and is reproducible", async () => {
    const a = await layerFromDir(path.join(dir, "tree"), path.join(dir, "a.tar"), { prefix: "opt/app" });
    const b = await layerFromDir(path.join(dir, "tree"), path.join(dir, "b.tar"), { prefix: "opt/app" });
    assert.equal(sha(await fs.readFile(a)), sha(await fs.readFile(b)));
    const entries = await readTar(a);
    const hello = entries.get("opt/app/bin/hello");
    assert.ok(hello, `entries: ${[...entries.keys()].join(", ")}`);
    assert.equal(hello.data.toString(), "#!/bin/sh\necho hi\n");
    assert.equal((hello.mode ?? 0) & 0o777, 0o755);
    assert.equal(hello.uid ?? 0, 0);
    assert.equal(hello.gid ?? 0, 0);
  });

  for (const compress of [true, false]) {
    test(`the archive's index, manifest, config and layers agree by digest (compress=${compress})`, async () => {
      const layer = await layerFromDir(path.join(dir, "tree"), path.join(dir, `l-${compress}.tar`));
      const out = path.join(dir, `image-${compress}.tar`);
      const img = await writeOciArchive(out, {
        ref: "example.test/app:v1",
        layers: [layer],
        compress,
        config: { entrypoint: ["/bin/hello"], env: ["HOME=/tmp"], user: "65534:65534", workingDir: "/", exposedPorts: ["8080/tcp"] },
      });
      const files = await readTar(out);
      assert.deepEqual(JSON.parse(files.get("oci-layout")!.data.toString()), { imageLayoutVersion: "1.0.0" });
      const index = JSON.parse(files.get("index.json")!.data.toString());
      assert.equal(index.schemaVersion, 2);
      const desc = index.manifests[0];
      assert.equal(desc.digest, img.manifestDigest);
      assert.equal(desc.annotations["io.containerd.image.name"], "example.test/app:v1");
      assert.equal(desc.annotations["org.opencontainers.image.ref.name"], "v1");
      const blob = (d: string) => files.get(`blobs/sha256/${d.slice(7)}`)!.data;
      const manifestBytes = blob(desc.digest);
      assert.equal(sha(manifestBytes), desc.digest);
      assert.equal(manifestBytes.length, desc.size);
      const manifest = JSON.parse(manifestBytes.toString());
      assert.equal(manifest.config.digest, img.configDigest);
      const config = JSON.parse(blob(manifest.config.digest).toString());
      assert.deepEqual(config.config.Entrypoint, ["/bin/hello"]);
      assert.equal(config.config.User, "65534:65534");
      assert.deepEqual(config.config.ExposedPorts, { "8080/tcp": {} });
      assert.equal(config.os, "linux");
      const raw = await fs.readFile(layer);
      assert.deepEqual(config.rootfs.diff_ids, [sha(raw)]);
      const l = manifest.layers[0];
      assert.equal(l.mediaType, compress ? mediaTypes.layerGzip : mediaTypes.layer);
      const stored = blob(l.digest);
      assert.equal(sha(stored), l.digest);
      assert.equal(stored.length, l.size);
      assert.deepEqual(compress ? zlib.gunzipSync(stored) : stored, raw);
    });
  }

  test("equal inputs give the same image digest; a changed layer changes it", async () => {
    const layer = await layerFromDir(path.join(dir, "tree"), path.join(dir, "same.tar"));
    const spec = { ref: "example.test/app:v1", layers: [layer], config: { cmd: ["/bin/hello"] } };
    const one = await writeOciArchive(path.join(dir, "one.tar"), spec);
    const two = await writeOciArchive(path.join(dir, "two.tar"), spec);
    assert.equal(one.manifestDigest, two.manifestDigest);
    await fs.writeFile(path.join(dir, "tree", "README"), "changed\n");
    const changed = await layerFromDir(path.join(dir, "tree"), path.join(dir, "changed.tar"));
    const three = await writeOciArchive(path.join(dir, "three.tar"), { ...spec, layers: [changed] });
    assert.notEqual(three.manifestDigest, one.manifestDigest);
  });

  test("an image needs a layer", async () => {
    await assert.rejects(writeOciArchive(path.join(dir, "none.tar"), { ref: "x:y", layers: [], config: {} }), /at least one layer/);
  });
});
