import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { describe, test } from "node:test";
import { parseOciUrl } from "../../../controllers/source/registry";
import { credentialsFromDockerConfig } from "../../../controllers/source/ocisecrets";
import { digestOfRevision, extractLayer, pickSemverTag } from "../../../controllers/source/ocirepository";
import { tarHeader } from "../../../controllers/source/tarball";

function tgz(entries: { name: string; data?: string; type?: string; linkname?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    parts.push(tarHeader(e.name, { mode: 0o644, size: data.length, typeflag: e.type ?? "0", linkname: e.linkname }), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(parts));
}

describe("OCI sources", () => {
  test("URLs: oci://host[:port]/repository, without tag or digest", () => {
    assert.deepEqual(parseOciUrl("oci://ghcr.io/org/manifests"), { registry: "ghcr.io", repository: "org/manifests" });
    assert.deepEqual(parseOciUrl("oci://127.0.0.1:5000/a/b/c/"), { registry: "127.0.0.1:5000", repository: "a/b/c" });
    for (const bad of ["https://ghcr.io/org/x", "oci://ghcr.io", "oci://ghcr.io/org/x:v1", "oci://ghcr.io/org/x@sha256:abc", "oci://ghcr.io/Org/X"]) assert.throws(() => parseOciUrl(bad), /URL must|invalid repository name/, bad);
  });

  test("docker config JSON: the entry for the registry host, username/password or auth", () => {
    const json = JSON.stringify({ auths: { "https://ghcr.io": { auth: Buffer.from("bot:tok:en").toString("base64") }, "127.0.0.1:5000": { username: "u", password: "p" } } });
    assert.deepEqual(credentialsFromDockerConfig(json, "ghcr.io", "'ns/s'"), { username: "bot", password: "tok:en" });
    assert.deepEqual(credentialsFromDockerConfig(json, "127.0.0.1:5000", "'ns/s'"), { username: "u", password: "p" });
    assert.equal(credentialsFromDockerConfig(json, "quay.io", "'ns/s'"), undefined);
    assert.throws(() => credentialsFromDockerConfig("{", "x", "'ns/s'"), /not JSON/);
  });

  test("semver tags: filter first, then the highest match", () => {
    const tags = ["1.0.0", "v1.1.0", "1.2.0-rc.1", "2.0.0", "latest", "1.1.0-special"];
    assert.equal(pickSemverTag(tags, ">=1.0.0 <2.0.0"), "v1.1.0");
    assert.equal(pickSemverTag(tags, ">=1.0.0-0", ".*-rc\\..*"), "1.2.0-rc.1");
    assert.equal(pickSemverTag(tags, ">=3"), undefined);
    assert.throws(() => pickSemverTag(tags, "*", "("), /not a regular expression/);
  });

  test("revisions: the digest after the tag", () => {
    assert.equal(digestOfRevision("v1@sha256:abc"), "sha256:abc");
    assert.equal(digestOfRevision("sha256:abc"), "sha256:abc");
  });

  test("layer extraction keeps files and directories, skips links, refuses paths outside and content over the limit", async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-layer-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const ok = path.join(dir, "ok");
    fs.mkdirSync(ok);
    await extractLayer(tgz([{ name: "apps/", type: "5" }, { name: "apps/a.yaml", data: "a: 1\n" }, { name: "apps/link", type: "2", linkname: "/etc/passwd" }]), ok, 1 << 20);
    assert.equal(fs.readFileSync(path.join(ok, "apps/a.yaml"), "utf8"), "a: 1\n");
    assert.ok(!fs.existsSync(path.join(ok, "apps/link")));
    const esc = path.join(dir, "esc");
    fs.mkdirSync(esc);
    await assert.rejects(extractLayer(tgz([{ name: "../outside.txt", data: "x" }]), esc, 1 << 20), /outside/);
    assert.ok(!fs.existsSync(path.join(dir, "outside.txt")));
    const big = path.join(dir, "big");
    fs.mkdirSync(big);
    await assert.rejects(extractLayer(tgz([{ name: "a", data: "x".repeat(100) }, { name: "b", data: "y".repeat(100) }]), big, 150), /over the limit of 150 bytes/);
  });
});
