import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { defaultRetention, garbageFiles, gitArtifactFileName, gitArtifactPath, retentionFromFlags, Storage, type StoredFile } from "../../../controllers/source/storage";

const sha = "450796ddb2ab6724ee1cc32a4be56da032d1cca0";
const dir = "gitrepository/flux-system/fleet";

test("GitRepository artifacts are named <commit sha>.tar.gz under gitrepository/<namespace>/<name>/", () => {
  assert.equal(gitArtifactFileName(`main@sha1:${sha}`), `${sha}.tar.gz`);
  assert.equal(gitArtifactFileName(`sha1:${sha}`), `${sha}.tar.gz`);
  assert.equal(gitArtifactFileName(`refs/tags/v1.0.0@sha1:${sha}`), `${sha}.tar.gz`);
  assert.equal(gitArtifactFileName(sha), `${sha}.tar.gz`);
  const sha256 = "a".repeat(64);
  assert.equal(gitArtifactFileName(`main@sha256:${sha256}`), `${sha256}.tar.gz`);
  assert.equal(gitArtifactPath("flux-system", "fleet", `main@sha1:${sha}`), `${dir}/${sha}.tar.gz`);
  assert.throws(() => gitArtifactFileName("main@sha1:not-a-sha"), /revision "main@sha1:not-a-sha" does not end in a commit sha/);
});

test("retention defaults are Flux's (60s, 2 records); flags override them, bad values are named", () => {
  assert.deepEqual(defaultRetention, { ttlMs: 60_000, records: 2 });
  assert.deepEqual(retentionFromFlags(), { ttlMs: 60_000, records: 2 });
  assert.deepEqual(retentionFromFlags("5m", "3"), { ttlMs: 300_000, records: 3 });
  assert.throws(() => retentionFromFlags("soon"), /--artifact-retention-ttl: invalid duration "soon"/);
  assert.throws(() => retentionFromFlags(undefined, "-1"), /--artifact-retention-records: "-1" is not a non-negative whole number/);
});

const now = 1_000_000_000;
const file = (name: string, ageMs: number, symlink = false): StoredFile => ({ rel: `${dir}/${name}`, mtimeMs: now - ageMs, symlink });

test("files older than the TTL go, except the current artifact", () => {
  const files = [file("cur.tar.gz", 600_000), file("old.tar.gz", 120_000), file("new.tar.gz", 10_000)];
  assert.deepEqual(garbageFiles(files, `${dir}/cur.tar.gz`, { ttlMs: 60_000, records: 5 }, now), [`${dir}/old.tar.gz`]);
});

test("beyond the records count the oldest go, the current one always stays", () => {
  const files = [file("a.tar.gz", 5_000), file("b.tar.gz", 4_000), file("c.tar.gz", 3_000), file("d.tar.gz", 2_000)];
  assert.deepEqual(garbageFiles(files, `${dir}/d.tar.gz`, { ttlMs: 60_000, records: 2 }, now), [`${dir}/a.tar.gz`, `${dir}/b.tar.gz`]);
  assert.deepEqual(garbageFiles(files, `${dir}/a.tar.gz`, { ttlMs: 60_000, records: 2 }, now), [`${dir}/b.tar.gz`, `${dir}/c.tar.gz`], "an old current artifact is kept");
  assert.deepEqual(garbageFiles(files, `${dir}/d.tar.gz`, { ttlMs: 60_000, records: 1 }, now).length, 3);
});

test("links, lock files and temp files are never garbage", () => {
  const files = [file("cur.tar.gz", 0), file("latest.tar.gz", 900_000, true), file("x.tar.gz.lock", 900_000), file(".tmp-abc", 900_000)];
  assert.deepEqual(garbageFiles(files, `${dir}/cur.tar.gz`, { ttlMs: 1, records: 1 }, now), []);
});

test("Storage removes garbage on disk, keeps the latest link, and serves the current artifact through it", async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-storage-test-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const storage = new Storage(root, "pending", { ttlMs: 60_000, records: 2 });
  fs.mkdirSync(path.join(root, dir), { recursive: true });
  const write = (name: string, content: string, ageMs: number) => {
    const p = path.join(root, dir, name);
    fs.writeFileSync(p, content);
    const at = new Date(Date.now() - ageMs);
    fs.utimesSync(p, at, at);
    return `${dir}/${name}`;
  };
  write("expired.tar.gz", "e", 120_000);
  write("older.tar.gz", "o", 30_000);
  write("previous.tar.gz", "p", 20_000);
  const current = write(`${sha}.tar.gz`, "current artifact", 0);
  const link = await storage.linkLatest(current);
  assert.equal(link, `${dir}/latest.tar.gz`);
  assert.equal(fs.readlinkSync(path.join(root, link)), `${sha}.tar.gz`, "a relative link beside the artifact");

  const removed = await storage.garbageCollect(dir, current);
  assert.deepEqual(removed.sort(), [`${dir}/expired.tar.gz`, `${dir}/older.tar.gz`]);
  assert.deepEqual(fs.readdirSync(path.join(root, dir)).sort(), [`${sha}.tar.gz`, "latest.tar.gz", "previous.tar.gz"]);

  // Re-pointing the link replaces it.
  const next = write(`${"b".repeat(40)}.tar.gz`, "next artifact", 0);
  await storage.linkLatest(next);
  assert.equal(fs.readlinkSync(path.join(root, link)), `${"b".repeat(40)}.tar.gz`);

  const server = storage.server();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/${link}`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "next artifact");
});
