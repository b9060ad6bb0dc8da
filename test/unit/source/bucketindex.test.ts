import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { indexRevision, indexText, parseListObjectsV2, parseS3Error, trimEtag, unsafeKeyReason } from "../../../controllers/source/bucketindex";
import { forEachBounded, keyIgnored } from "../../../controllers/source/bucket";
import { IgnoreMatcher, parsePatterns } from "../../../controllers/source/ignore";

test("revision is sha256 over '<key> <etag>\\n' lines in byte order of the keys", () => {
  const index = new Map([
    ["b/x.yaml", "etag2"],
    ["a.yaml", "etag1"],
    ["B.yaml", "etag3"],
  ]);
  const text = "B.yaml etag3\na.yaml etag1\nb/x.yaml etag2\n";
  assert.equal(indexText(index), text);
  assert.equal(indexRevision(index), `sha256:${createHash("sha256").update(text).digest("hex")}`);
  // Insertion order does not matter; a changed ETag, key, or an extra object does.
  assert.equal(indexRevision(new Map([...index].reverse())), indexRevision(index));
  assert.notEqual(indexRevision(new Map([...index, ["a.yaml", "etag9"]])), indexRevision(index));
  assert.notEqual(indexRevision(new Map([...index, ["c.yaml", "etag4"]])), indexRevision(index));
});

test("an empty index digests the empty string", () => {
  assert.equal(indexRevision(new Map()), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

test("byte order, not locale order: upper case and non-ASCII keys", () => {
  const index = new Map([
    ["é.yaml", "1"],
    ["z.yaml", "2"],
    ["Z.yaml", "3"],
  ]);
  assert.equal(indexText(index), "Z.yaml 3\nz.yaml 2\né.yaml 1\n");
});

test("ETags lose their quotes", () => {
  assert.equal(trimEtag('"abc"'), "abc");
  assert.equal(trimEtag("abc-2"), "abc-2");
});

test("unsafe keys are refused with a reason", () => {
  for (const k of ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\b", "C:x"]) assert.ok(unsafeKeyReason(k), k);
  for (const k of ["a", "dir/a.yaml", "a..b", "..a/b"]) assert.equal(unsafeKeyReason(k), undefined, k);
});

test("ListObjectsV2 pages: keys with entities, quoted ETags, continuation", () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>fleet</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>apps/a&amp;b.yaml</Key><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>12</Size></Contents>
<Contents><Key>apps/c.yaml</Key><ETag>"92eb5ffee6ae2fec3ad71c777531578f"</ETag><Size>3</Size></Contents>
<NextContinuationToken>tok&amp;1</NextContinuationToken></ListBucketResult>`;
  const page = parseListObjectsV2(xml);
  assert.deepEqual(page.objects, [
    { key: "apps/a&b.yaml", etag: "0cc175b9c0f1b6a831c399e269772661", size: 12 },
    { key: "apps/c.yaml", etag: "92eb5ffee6ae2fec3ad71c777531578f", size: 3 },
  ]);
  assert.equal(page.truncated, true);
  assert.equal(page.nextContinuationToken, "tok&1");
  assert.throws(() => parseListObjectsV2("<html>proxy error</html>"), /not a ListBucketResult/);
});

test("S3 error documents", () => {
  assert.deepEqual(parseS3Error("<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>"), { code: "NoSuchBucket", message: "The specified bucket does not exist" });
  assert.equal(parseS3Error("<ListBucketResult/>"), undefined);
});

test("a key is ignored when it or a parent directory matches", () => {
  const m = new IgnoreMatcher(parsePatterns("secret/\n*.md\n!keep.md\n"));
  assert.equal(keyIgnored(m, "secret/a.yaml"), true);
  assert.equal(keyIgnored(m, "apps/secret/a.yaml"), true);
  assert.equal(keyIgnored(m, "README.md"), true);
  assert.equal(keyIgnored(m, "keep.md"), false);
  assert.equal(keyIgnored(m, "apps/a.yaml"), false);
});

test("bounded concurrency: never more than the limit in flight, the first failure is thrown", async () => {
  let inFlight = 0;
  let peak = 0;
  const done: number[] = [];
  await forEachBounded([...Array(50).keys()], 4, async (i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 1));
    inFlight--;
    done.push(i);
  });
  assert.equal(peak, 4);
  assert.equal(done.length, 50);
  await assert.rejects(
    forEachBounded([1, 2, 3], 2, async (i) => {
      if (i === 2) throw new Error("boom 2");
    }),
    /boom 2/,
  );
});
