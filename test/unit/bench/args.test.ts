import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseMttpArgs } from "../../../bench/args";

const d = { out: "/tmp/out" };

test("defaults: N=100, Mooring and the floor, latency on", () => {
  const a = parseMttpArgs([], d);
  assert.deepEqual(a.ns, [100]);
  assert.deepEqual(a.systems, ["floor", "mooring"]);
  assert.equal(a.latency, true);
});

test("--vs flux adds Flux, Flux tuned and floor-gitops; --n is sorted and deduplicated", () => {
  const a = parseMttpArgs(["--n", "1000,100,500,100", "--vs", "flux"], d);
  assert.deepEqual(a.ns, [100, 500, 1000]);
  assert.deepEqual(a.systems, ["floor", "floor-gitops", "mooring", "flux", "flux-tuned"]);
});

test("--systems picks systems, run in the order given; bad values are refused with the reason", () => {
  assert.deepEqual(parseMttpArgs(["--systems=mooring", "--no-latency"], d).systems, ["mooring"]);
  assert.deepEqual(parseMttpArgs(["--systems", "mooring,floor-gitops,floor,mooring"], d).systems, ["mooring", "floor-gitops", "floor"]);
  assert.deepEqual(parseMttpArgs(["--systems", "floor-gitops,mooring"], d).systems, ["floor-gitops", "mooring"]);
  assert.throws(() => parseMttpArgs(["--n", "0"], d), /--n: "0"/);
  assert.throws(() => parseMttpArgs(["--systems", "argo"], d), /unknown system "argo"/);
  assert.throws(() => parseMttpArgs(["--vs", "argo"], d), /only "flux"/);
  assert.throws(() => parseMttpArgs(["--bogus"], d), /unknown flag "--bogus"/);
});
