import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ArtifactError, downloadArtifact, extractArtifact, safeRelativePath, symlinkStaysInside, verifyDigest } from "../../../controllers/kustomize/artifact";
import { rawTarGz } from "../../fixtures/kustomize/tar";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "mooring-extract-"));

test("extracts files, directories and in-root symlinks", async () => {
  const dir = tmp();
  await extractArtifact(
    rawTarGz([
      { name: "apps/", type: "5", mode: 0o755 },
      { name: "apps/cm.yaml", content: "kind: ConfigMap\n" },
      { name: "./run.sh", content: "#!/bin/sh\n", mode: 0o755 },
      { name: "apps/link.yaml", type: "2", link: "cm.yaml" },
      { name: "base", type: "2", link: "apps" },
    ]),
    dir,
  );
  assert.equal(fs.readFileSync(path.join(dir, "apps/cm.yaml"), "utf8"), "kind: ConfigMap\n");
  assert.equal(fs.readFileSync(path.join(dir, "apps/link.yaml"), "utf8"), "kind: ConfigMap\n");
  assert.equal(fs.statSync(path.join(dir, "run.sh")).mode & 0o777, 0o755);
  fs.rmSync(dir, { recursive: true });
});

for (const [what, entries, pattern] of [
  ["path traversal", [{ name: "../evil.yaml", content: "x" }], /path traversal/],
  ["nested traversal", [{ name: "apps/../../evil.yaml", content: "x" }], /path traversal/],
  ["absolute path", [{ name: "/etc/evil.yaml", content: "x" }], /absolute/],
  ["symlink escaping the root", [{ name: "apps/up", type: "2", link: "../../etc" }], /points outside/],
  ["absolute symlink", [{ name: "passwd", type: "2", link: "/etc/passwd" }], /points outside/],
  ["write through a symlink", [{ name: "sub/", type: "5" }, { name: "link", type: "2", link: "sub" }, { name: "link/x.yaml", content: "x" }], /goes through symlink/],
  ["hard link", [{ name: "a", content: "x" }, { name: "b", type: "1", link: "a" }], /hard link/],
  ["device", [{ name: "dev", type: "3" }], /special file/],
] as const) {
  test(`extraction refuses ${what}`, async () => {
    const dir = tmp();
    const outside = path.join(path.dirname(dir), "evil.yaml");
    await assert.rejects(extractArtifact(rawTarGz(entries as never), dir), (err: Error) => err instanceof ArtifactError && pattern.test(err.message));
    assert.ok(!fs.existsSync(outside) || fs.readFileSync(outside, "utf8") !== "x");
    fs.rmSync(dir, { recursive: true });
  });
}

test("extraction enforces size and entry limits", async () => {
  const dir = tmp();
  await assert.rejects(extractArtifact(rawTarGz([{ name: "big", content: Buffer.alloc(2048) }]), dir, { maxBytes: 1024, maxEntries: 10 }), /exceeds 1024 bytes/);
  await assert.rejects(extractArtifact(rawTarGz(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, content: "x" }))), tmp(), { maxBytes: 1 << 20, maxEntries: 3 }), /more than 3 entries/);
});

test("path and symlink rules", () => {
  assert.equal(safeRelativePath("./apps//x.yaml"), "apps/x.yaml");
  assert.throws(() => safeRelativePath("C:\\x"), /absolute or non-portable/);
  assert.ok(symlinkStaysInside("a/b/link", "../c"));
  assert.ok(!symlinkStaysInside("a/link", "../../c"));
  assert.ok(!symlinkStaysInside("link", ".."));
});

test("the digest must be sha256 and match", () => {
  const bytes = Buffer.from("artifact");
  const good = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  verifyDigest(bytes, good);
  assert.throws(() => verifyDigest(Buffer.from("tampered"), good), /does not match/);
  assert.throws(() => verifyDigest(bytes, undefined), /no digest/);
  assert.throws(() => verifyDigest(bytes, "md5:abc"), /unsupported/);
});

test("a download refused or answered 5xx is retried with backoff; 4xx and the last failure are errors", async () => {
  const body = Buffer.from("artifact bytes");
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  let calls = 0;
  let answers: number[] = [];
  const server = http.createServer((_req, res) => {
    calls++;
    const status = answers.shift() ?? 200;
    res.writeHead(status).end(status === 200 ? body : "no");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/a.tar.gz`;
  const retry = { retries: 3, firstDelayMs: 10, maxDelayMs: 20 };
  try {
    answers = [503, 502];
    assert.deepEqual(await downloadArtifact(url, digest, new AbortController().signal, undefined, retry), body);
    assert.equal(calls, 3);
    calls = 0;
    answers = [503, 503, 503, 503];
    await assert.rejects(downloadArtifact(url, digest, new AbortController().signal, undefined, retry), /status: 503 .*\(after 4 attempts\)/);
    assert.equal(calls, 4);
    calls = 0;
    answers = [404];
    await assert.rejects(downloadArtifact(url, digest, new AbortController().signal, undefined, retry), /status: 404/);
    assert.equal(calls, 1, "a 4xx is not retried");
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // Nothing listens: the refused connection is retried, then reported with its code.
  await assert.rejects(downloadArtifact(url, digest, new AbortController().signal, undefined, retry), /ECONNREFUSED.*\(after 4 attempts\)/);
});
