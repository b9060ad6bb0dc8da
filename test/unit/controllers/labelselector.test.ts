// Label selectors as kubectl and --watch-label-selector write them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseLabelSelector, selectorMatches } from "../../../controllers/labelselector";

describe("parseLabelSelector", () => {
  it("reads every operator", () => {
    assert.deepEqual(parseLabelSelector("a=b,c==d,e!=f,g,!h,i in (x, y),j notin (z)"), [
      { key: "a", operator: "=", values: ["b"] },
      { key: "c", operator: "=", values: ["d"] },
      { key: "e", operator: "!=", values: ["f"] },
      { key: "g", operator: "exists", values: [] },
      { key: "h", operator: "!", values: [] },
      { key: "i", operator: "in", values: ["x", "y"] },
      { key: "j", operator: "notin", values: ["z"] },
    ]);
  });

  it("reads Flux's sharding selectors", () => {
    assert.deepEqual(parseLabelSelector("sharding.fluxcd.io/key=shard1"), [{ key: "sharding.fluxcd.io/key", operator: "=", values: ["shard1"] }]);
    assert.deepEqual(parseLabelSelector("!sharding.fluxcd.io/key"), [{ key: "sharding.fluxcd.io/key", operator: "!", values: [] }]);
  });

  it("selects everything when empty", () => {
    assert.deepEqual(parseLabelSelector(""), []);
  });

  it("refuses bad keys, values and syntax with the part it could not read", () => {
    assert.throws(() => parseLabelSelector("-a=b"), /"-a" is not a valid label key/);
    assert.throws(() => parseLabelSelector("Example.COM/a=b"), /"Example.COM\/a" is not a valid label key/);
    assert.throws(() => parseLabelSelector("a=b c"), /cannot read "a=b c"/);
    assert.throws(() => parseLabelSelector(`a=${"v".repeat(64)}`), /is not a valid label value/);
    assert.throws(() => parseLabelSelector("a,"), /empty requirement/);
  });
});

describe("selectorMatches", () => {
  const shard1 = parseLabelSelector("sharding.fluxcd.io/key=shard1");
  const unsharded = parseLabelSelector("!sharding.fluxcd.io/key");
  it("splits objects between shards", () => {
    const labels = { "sharding.fluxcd.io/key": "shard1" };
    assert.equal(selectorMatches(shard1, labels), true);
    assert.equal(selectorMatches(unsharded, labels), false);
    assert.equal(selectorMatches(shard1, undefined), false);
    assert.equal(selectorMatches(unsharded, undefined), true);
  });

  it("applies set and inequality operators", () => {
    assert.equal(selectorMatches(parseLabelSelector("tier in (web,api)"), { tier: "api" }), true);
    assert.equal(selectorMatches(parseLabelSelector("tier notin (web,api)"), { tier: "api" }), false);
    assert.equal(selectorMatches(parseLabelSelector("tier notin (web)"), {}), true);
    assert.equal(selectorMatches(parseLabelSelector("tier!=web"), { tier: "db" }), true);
    assert.equal(selectorMatches(parseLabelSelector("tier,app=x"), { tier: "", app: "x" }), true);
  });
});
