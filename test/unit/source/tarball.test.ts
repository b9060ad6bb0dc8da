import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { writeArchive } from "../../../controllers/source/tarball";
import { defaultMatcher, parsePatterns } from "../../../controllers/source/ignore";

function tree(files: Record<string, string>, mode = 0o644): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-tar-test-"));
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), content, { mode });
  }
  return dir;
}

const longName = `${"very-long-directory-name/".repeat(6)}file.yaml`;
const files = { "b.yaml": "b", "a/c.yaml": "c", "a/run.sh": "#!/bin/sh\n", [longName]: "long", "logo.png": "png" };

test("the same tree gives the same bytes regardless of mtimes, modes and creation order", async (t) => {
  const one = tree(files);
  const two = tree(Object.fromEntries(Object.entries(files).reverse()), 0o664);
  fs.chmodSync(path.join(one, "a/run.sh"), 0o755);
  fs.chmodSync(path.join(two, "a/run.sh"), 0o775);
  fs.utimesSync(path.join(two, "b.yaml"), new Date(1), new Date(1));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-tar-out-"));
  t.after(() => [one, two, out].forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const r1 = await writeArchive(one, defaultMatcher(), path.join(out, "1.tgz"));
  const r2 = await writeArchive(two, defaultMatcher(), path.join(out, "2.tgz"));
  assert.match(r1.digest, /^sha256:[0-9a-f]{64}$/);
  assert.equal(r1.digest, r2.digest);
  assert.deepEqual(fs.readFileSync(path.join(out, "1.tgz")), fs.readFileSync(path.join(out, "2.tgz")));
  assert.equal(r1.size, fs.statSync(path.join(out, "1.tgz")).size);

  fs.writeFileSync(path.join(two, "b.yaml"), "changed");
  const r3 = await writeArchive(two, defaultMatcher(), path.join(out, "3.tgz"));
  assert.notEqual(r3.digest, r1.digest, "a content change changes the digest");
});

test("the archive is readable by tar: sorted entries, normalised modes, no ignored files, long names", async (t) => {
  const dir = tree(files);
  fs.chmodSync(path.join(dir, "a/run.sh"), 0o700);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-tar-out-"));
  t.after(() => [dir, out].forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const file = path.join(out, "x.tgz");
  await writeArchive(dir, defaultMatcher().with(parsePatterns("b.yaml")), file);
  const listing = execFileSync("tar", ["-tvzf", file], { encoding: "utf8" }).trim().split("\n");
  const names = execFileSync("tar", ["-tzf", file], { encoding: "utf8" }).trim().split("\n");
  assert.equal(names[0], "a/");
  assert.deepEqual(names.slice(1, 3), ["a/c.yaml", "a/run.sh"]);
  assert.ok(names.includes(longName), "long path preserved through a PAX header");
  assert.ok(!names.includes("b.yaml") && !names.includes("logo.png"), "ignored files are left out");
  const run = listing.find((l) => l.endsWith("a/run.sh"))!;
  assert.match(run, /^-rwxr-xr-x 0\/0 /);
  assert.match(listing.find((l) => l.endsWith("a/c.yaml"))!, /^-rw-r--r-- 0\/0 .* 1970-01-01 /);
  const extract = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-tar-x-"));
  t.after(() => fs.rmSync(extract, { recursive: true, force: true }));
  execFileSync("tar", ["-xzf", file, "-C", extract]);
  assert.equal(fs.readFileSync(path.join(extract, longName), "utf8"), "long");
});

test("an ignored directory is not descended into, and a directory left empty by ignores is omitted", async (t) => {
  const dir = tree({ "keep/a.yaml": "a", "drop/b.yaml": "b", "img/logo.png": "png" });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-tar-out-"));
  t.after(() => [dir, out].forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const file = path.join(out, "x.tgz");
  await writeArchive(dir, defaultMatcher().with(parsePatterns("drop/\n!drop/b.yaml\n")), file);
  const names = execFileSync("tar", ["-tzf", file], { encoding: "utf8" }).trim().split("\n");
  assert.deepEqual(names, ["keep/", "keep/a.yaml"]);
});
