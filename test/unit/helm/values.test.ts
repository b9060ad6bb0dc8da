import { test } from "node:test";
import * as assert from "node:assert/strict";
import { canonicalJson, mergeValues, parseTargetPath, setPath, typedValue, valuesDigest } from "../../../controllers/helm/values";

test("values merge as Helm merges them: maps key by key, anything else replaced", () => {
  const base = { image: { repository: "a", tag: "1" }, list: [1, 2], keep: true };
  const over = { image: { tag: "2" }, list: [3], extra: { x: 1 } };
  assert.deepEqual(mergeValues(base, over), { image: { repository: "a", tag: "2" }, list: [3], keep: true, extra: { x: 1 } });
  assert.deepEqual(base.image, { repository: "a", tag: "1" }, "inputs are not changed");
  assert.deepEqual(mergeValues({ a: { b: 1 } }, { a: null }), { a: null }, "null replaces a map");
});

test("targetPath uses Helm's --set syntax: dots, escaped dots, list indexes", () => {
  assert.deepEqual(parseTargetPath("a.b.c"), ["a", "b", "c"]);
  assert.deepEqual(parseTargetPath("ingress.annotations.kubernetes\\.io/ingress\\.class"), ["ingress", "annotations", "kubernetes.io/ingress.class"]);
  assert.deepEqual(parseTargetPath("servers[1].port"), ["servers", 1, "port"]);
  assert.deepEqual(parseTargetPath("m[0][2]"), ["m", 0, 2]);
  assert.throws(() => parseTargetPath("a..b"), /empty key/);
  assert.throws(() => parseTargetPath(""), /invalid targetPath/);
});

test("a targetPath value is typed as --set types it", () => {
  assert.equal(typedValue("true"), true);
  assert.equal(typedValue("false"), false);
  assert.equal(typedValue("null"), null);
  assert.equal(typedValue("42"), 42);
  assert.equal(typedValue("-7"), -7);
  assert.equal(typedValue("007"), "007");
  assert.equal(typedValue("1.5"), "1.5");
  assert.equal(typedValue("s3cr3t"), "s3cr3t");
});

test("setPath creates maps and lists on the way and replaces the leaf", () => {
  const v: Record<string, unknown> = { a: { keep: 1 } };
  setPath(v, ["a", "b", "c"], "x");
  setPath(v, ["servers", 1, "port"], 80);
  assert.deepEqual(v, { a: { keep: 1, b: { c: "x" } }, servers: [null, { port: 80 }] });
  const scalar: Record<string, unknown> = { a: "str" };
  setPath(scalar, ["a", 0], 1);
  assert.deepEqual(scalar, { a: [1] }, "a scalar on the way is replaced, as --set does");
});

test("the values digest is over canonical JSON: key order does not matter, content does", () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: "<&>" }], c: null } }), '{"a":{"c":null,"d":[1,{"y":"<&>","z":1}]},"b":1}');
  assert.equal(valuesDigest({ a: 1, b: 2 }), valuesDigest({ b: 2, a: 1 }));
  assert.notEqual(valuesDigest({ a: 1 }), valuesDigest({ a: 2 }));
  assert.match(valuesDigest({}), /^sha256:[0-9a-f]{64}$/);
});
