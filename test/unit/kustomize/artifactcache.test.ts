import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as zlib from "node:zlib";
import { createHash } from "node:crypto";
import { ArtifactCache, ArtifactFiles } from "../../../controllers/kustomize/artifactcache";
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
  const got = await Promise.all([1, 2, 3].map(() => cache.files("http://s/a", digestOf(a), signal)));
  assert.equal(downloads, 1);
  assert.equal(got[0]!.entries.find((e) => e.path === "apps/a/x.yaml")?.data?.toString(), "a");
  await cache.files("http://s/b", digestOf(b), signal);
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
  await assert.rejects(cache.files("http://s/a", digestOf(good), AbortSignal.timeout(5_000)), /connection reset/);
  await new Promise((r) => setImmediate(r));
  assert.equal((await cache.files("http://s/a", digestOf(good), AbortSignal.timeout(5_000))).entries.length, 1);
});

test("the cache keeps at most maxArtifacts revisions", async () => {
  const cache = new ArtifactCache({ maxArtifacts: 2, download: async (url) => tgz({ [url.slice(-1)]: "x" }) });
  for (const r of ["1", "2", "3"]) await cache.files(`http://s/${r}`, `sha256:${r}`, AbortSignal.timeout(5_000));
  await new Promise((r) => setImmediate(r));
  assert.equal(cache.size, 2);
});

const file = (p: string): TarEntry => ({ path: p, type: "file", mode: 0o644, data: Buffer.from("x") });

test("forBuild keeps only a plain subtree, else everything", () => {
  const all = [file("apps/a/x.yaml"), file("apps/ab/y.yaml"), file("apps/a.yaml"), file("base/kustomization.yaml"), file("apps/a/sub/z.yaml")];
  const forBuild = (entries: TarEntry[], rel: string, components = false) => new ArtifactFiles(entries).forBuild(rel, components);
  assert.deepEqual(forBuild(all, "apps/a").map((e) => e.path), ["apps/a/sub/z.yaml", "apps/a/x.yaml"]);
  assert.equal(forBuild(all, "apps/a", true), all, "components may reach outside");
  assert.equal(forBuild(all, ""), all);
  assert.equal(forBuild([...all, file("apps/a/kustomization.yaml")], "apps/a").length, 6, "a kustomization may reference ../");
  assert.equal(forBuild([...all, { path: "apps/b", type: "symlink", mode: 0o777, linkTarget: "a" }], "apps/a").length, 6);
  assert.equal(forBuild([...all, file("../escape.yaml")], "apps/a").length, 6, "an unsafe path is reported by the full extraction");
  assert.equal(forBuild(all, "missing"), all, "a missing path is reported from the full tree");
  assert.equal(forBuild(all, "apps/a.yaml"), all, "a file is not a directory");
});

test("plainSubtree gives the files under a path relative to it, found by binary search among many", () => {
  const many = Array.from({ length: 500 }, (_, i) => file(`apps/app-${String(i).padStart(3, "0")}/d.yaml`));
  const files = new ArtifactFiles([...many, file("apps/app-042/sub/s.yml"), file("./apps/app-042/./e.yaml"), { path: "apps/app-042/", type: "dir", mode: 0o755 }]);
  assert.deepEqual(files.plainSubtree("apps/app-042")!.map((f) => f.path), ["d.yaml", "e.yaml", "sub/s.yml"]);
  assert.equal(files.plainSubtree("apps/app-04"), undefined, "a prefix of a name is not a directory");
  assert.equal(files.plainSubtree("apps/app-999"), undefined);
  assert.equal(new ArtifactFiles([file("a/Kustomization"), file("a/x.yaml")]).plainSubtree("a"), undefined);
});
