import { test } from "node:test";
import * as assert from "node:assert/strict";
import { invalidVarNames, substitute, SubstitutionError, varsFromData } from "../../../controllers/kustomize/substitute";

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
  assert.equal(substitute("x: ${name^^}", { name: "x" }, true), "x: ${name^^}");
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
