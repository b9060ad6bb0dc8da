import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as zlib from "node:zlib";
import { createHash } from "node:crypto";
import { ArtifactCache, entriesFor } from "../../../controllers/kustomize/artifactcache";
import type { TarEntry } from "../../../controllers/kustomize/artifact";

/** A minimal ustar archive of regular files. */
function tgz(files: Record<string, string>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const h = Buffer.alloc(512);
    h.write(name, 0, "utf8");
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(Buffer.byteLength(content).toString(8).padStart(11, "0") + "\0", 124);
    h.write("00000000000\0", 136);
    h.write("        ", 148);
    h.write("0", 156);
    h.write("ustar\0", 257);
    h.write("00", 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
    body.write(content);
    blocks.push(h, body);
  }
  blocks.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(blocks));
}

const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

test("concurrent builds of one revision share one download; another revision downloads again", async () => {
  const a = tgz({ "apps/a/x.yaml": "a" });
  const b = tgz({ "apps/a/x.yaml": "b" });
  let downloads = 0;
  const cache = new ArtifactCache({ download: async (url) => (downloads++, url.endsWith("/a") ? a : b) });
  const signal = AbortSignal.timeout(5_000);
  const got = await Promise.all([1, 2, 3].map(() => cache.entries("http://s/a", digestOf(a), signal)));
  assert.equal(downloads, 1);
  assert.equal(got[0]!.find((e) => e.path === "apps/a/x.yaml")?.data?.toString(), "a");
  await cache.entries("http://s/b", digestOf(b), signal);
  assert.equal(downloads, 2);
});

test("a failed download is not kept; the next build tries again", async () => {
  let calls = 0;
  const good = tgz({ "a.yaml": "x" });
  const cache = new ArtifactCache({
    download: async () => {
      if (++calls === 1) throw new Error("connection reset");
      return good;
    },
  });
  await assert.rejects(cache.entries("http://s/a", digestOf(good), AbortSignal.timeout(5_000)), /connection reset/);
  await new Promise((r) => setImmediate(r));
  assert.equal((await cache.entries("http://s/a", digestOf(good), AbortSignal.timeout(5_000))).length, 1);
});

test("the cache keeps at most maxArtifacts revisions", async () => {
  const cache = new ArtifactCache({ maxArtifacts: 2, download: async (url) => tgz({ [url.slice(-1)]: "x" }) });
  for (const r of ["1", "2", "3"]) await cache.entries(`http://s/${r}`, `sha256:${r}`, AbortSignal.timeout(5_000));
  await new Promise((r) => setImmediate(r));
  assert.equal(cache.size, 2);
});

const file = (p: string): TarEntry => ({ path: p, type: "file", mode: 0o644, data: Buffer.from("x") });

test("entriesFor keeps only a plain subtree, else everything", () => {
  const all = [file("apps/a/x.yaml"), file("apps/ab/y.yaml"), file("base/kustomization.yaml"), file("apps/a/sub/z.yaml")];
  assert.deepEqual(entriesFor(all, "apps/a", false).map((e) => e.path), ["apps/a/x.yaml", "apps/a/sub/z.yaml"]);
  assert.equal(entriesFor(all, "apps/a", true), all, "components may reach outside");
  assert.equal(entriesFor(all, "", false), all);
  assert.equal(entriesFor([...all, file("apps/a/kustomization.yaml")], "apps/a", false).length, 5, "a kustomization may reference ../");
  assert.equal(entriesFor([...all, { path: "apps/b", type: "symlink", mode: 0o777, linkTarget: "a" }], "apps/a", false).length, 5);
  assert.equal(entriesFor(all, "missing", false), all, "a missing path is reported from the full tree");
});
