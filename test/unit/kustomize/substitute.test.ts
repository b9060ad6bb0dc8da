import { test } from "node:test";
import * as assert from "node:assert/strict";
import { globRegExp, invalidVarNames, substitute, SubstitutionError, substr, varsFromData } from "../../../controllers/kustomize/substitute";

test("${var} and defaults", () => {
  const vars = { name: "web", empty: "" };
  assert.equal(substitute("n: ${name}", vars, true), "n: web");
  assert.equal(substitute("t: ${tier:=gold}", vars, true), "t: gold");
  assert.equal(substitute("t: ${tier:-silver}", vars, true), "t: silver");
  assert.equal(substitute("t: ${empty:=x}", vars, true), "t: x", ":= replaces empty values");
  assert.equal(substitute("t: ${empty=x}", vars, true), "t: ", "= keeps a set empty value");
  assert.equal(substitute("t: ${name:=other}", vars, true), "t: web");
  assert.equal(substitute("a ${name}-${name} b", vars, true), "a web-web b");
});

test("escapes, lone dollars and shell expressions are left as written", () => {
  assert.equal(substitute("a: $${name}", { name: "x" }, true), "a: ${name}");
  assert.equal(substitute("price: $5 and $HOME", {}, true), "price: $5 and $HOME");
  assert.equal(substitute("x: ${name@U}", { name: "x" }, true), "x: ${name@U}");
  assert.equal(substitute("x: ${1abc}", { name: "x" }, true), "x: ${1abc}");
  assert.equal(substitute("x: ${unterminated", {}, true), "x: ${unterminated");
});

test("strict mode fails on a variable without value or default; non-strict substitutes empty", () => {
  assert.throws(() => substitute("x: ${missing}", {}, true), (e: Error) => e instanceof SubstitutionError && /variable not set \(strict mode\): "missing"/.test(e.message));
  assert.equal(substitute("x: ${missing}", {}, false), "x: ");
});

test("variable names and Secret data", () => {
  assert.deepEqual(invalidVarNames({ ok_1: "", _x: "", "1bad": "", "with-dash": "" }), ["1bad", "with-dash"]);
  assert.deepEqual(varsFromData("Secret", { data: { token: Buffer.from("s3").toString("base64") } }), { token: "s3" });
  assert.deepEqual(varsFromData("ConfigMap", { data: { a: "1" } }), { a: "1" });
});

test("${v:pos} takes the rest from pos; a negative pos counts from the end", () => {
  const vars = { tag: "v1.2.3-rc.1" };
  assert.equal(substitute("t: ${tag:1}", vars, true), "t: 1.2.3-rc.1");
  assert.equal(substitute("t: ${tag:0}", vars, true), "t: v1.2.3-rc.1");
  assert.equal(substitute("t: ${tag: -4}", vars, true), "t: rc.1");
  assert.equal(substitute("t: ${tag:-4}", vars, true), "t: v1.2.3-rc.1", ":- is a default, not a negative position (as in bash)");
  assert.equal(substitute("t: ${tag:99}", vars, true), "t: ");
  assert.equal(substitute("t: ${tag: -99}", vars, true), "t: v1.2.3-rc.1", "a negative position before the start clamps to 0");
});

test("${v:pos:len} takes len characters; past the end gives the rest", () => {
  const vars = { sha: "0123456789abcdef" };
  assert.equal(substitute("s: ${sha:0:7}", vars, true), "s: 0123456");
  assert.equal(substitute("s: ${sha:10:3}", vars, true), "s: abc");
  assert.equal(substitute("s: ${sha:10:100}", vars, true), "s: abcdef");
  assert.equal(substitute("s: ${sha:100:2}", vars, true), "s: ");
  assert.equal(substitute("s: ${sha:x:2}", vars, true), "s: 0123456789abcdef", "a position that is not a number gives the value, as bash does");
  assert.equal(substr("abc", "1", "y"), "abc");
  assert.equal(substitute("s: ${sha:${start}:${n}}", { ...vars, start: "2", n: "3" }, true), "s: 234", "arguments may hold references");
});

test("${v/from/to} replaces the first match; //, /# and /% replace all, a prefix, a suffix", () => {
  const vars = { host: "a.b.example.com" };
  assert.equal(substitute("h: ${host/./-}", vars, true), "h: a-b.example.com");
  assert.equal(substitute("h: ${host//./-}", vars, true), "h: a-b-example-com");
  assert.equal(substitute("h: ${host/#a./x.}", vars, true), "h: x.b.example.com");
  assert.equal(substitute("h: ${host/#b./x.}", vars, true), "h: a.b.example.com", "/# only replaces a prefix");
  assert.equal(substitute("h: ${host/%.com/.org}", vars, true), "h: a.b.example.org");
  assert.equal(substitute("h: ${host/.example}", vars, true), "h: a.b.com", "without /to the match is removed");
  assert.equal(substitute("h: ${host/nomatch/x}", vars, true), "h: a.b.example.com");
  assert.equal(substitute("p: ${path//\\//_}", { path: "a/b/c" }, true), "p: a_b_c", "\\/ is a literal slash in the pattern");
  assert.equal(substitute("h: ${host/$/x}", { host: "$$" }, true), "h: x$", "the pattern is literal text, not a regular expression");
});

test("${#v}, case changes and pattern removal", () => {
  const vars = { name: "hello World", file: "dir/sub/app.tar.gz" };
  assert.equal(substitute("${#name}", vars, true), "11");
  assert.equal(substitute("${name^}|${name^^}|${name,}|${name,,}", { name: "hELLO" }, true), "HELLO|HELLO|hELLO|hello");
  assert.equal(substitute("${file#*/}", vars, true), "sub/app.tar.gz");
  assert.equal(substitute("${file##*/}", vars, true), "app.tar.gz");
  assert.equal(substitute("${file%.*}", vars, true), "dir/sub/app.tar");
  assert.equal(substitute("${file%%.*}", vars, true), "dir/sub/app");
  assert.equal(substitute("${file#nomatch}", vars, true), "dir/sub/app.tar.gz");
  assert.ok(globRegExp("a[!b]?")!.test("acd"));
  assert.ok(!globRegExp("a[!b]?")!.test("abd"));
});

test("functions on an unset variable: strict mode names it, non-strict works on \"\"", () => {
  assert.throws(() => substitute("${missing:0:2}", {}, true), /variable not set \(strict mode\): "missing"/);
  assert.throws(() => substitute("${missing/a/b}", {}, true), /"missing"/);
  assert.equal(substitute("[${missing:0:2}][${missing/a/b}][${#missing}]", {}, false), "[][][0]");
  assert.equal(substitute("${missing:=${other:0:3}}", { other: "abcdef" }, true), "abc", "a default may hold a function");
});
