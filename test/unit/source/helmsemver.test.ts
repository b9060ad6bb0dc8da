import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { ConstraintError, parseHelmConstraint, parseHelmVersion, satisfies, selectVersion } from "../../../controllers/source/helmsemver";

const ok = (constraint: string, version: string) => satisfies(parseHelmVersion(version)!, parseHelmConstraint(constraint));

describe("Helm versions and constraints (Masterminds semver syntax)", () => {
  test("versions parse leniently: a leading v, missing minor and patch", () => {
    assert.deepEqual(parseHelmVersion("v1.2"), { major: 1, minor: 2, patch: 0, pre: "", original: "v1.2" });
    assert.equal(parseHelmVersion("1.2.3-rc.1+build.5")!.pre, "rc.1");
    assert.equal(parseHelmVersion("latest"), undefined);
    assert.equal(parseHelmVersion("1.2.3.4"), undefined);
  });

  const table: [string, string, boolean][] = [
    // AND with a space or a comma, OR with ||
    [">=1.0 <2.0", "1.9.9", true],
    [">=1.0 <2.0", "2.0.0", false],
    [">=1.0, <2.0", "1.0.0", true],
    [">= 1.2, < 3.0.0 || >= 4.2.3", "3.5.0", false],
    [">= 1.2, < 3.0.0 || >= 4.2.3", "4.2.3", true],
    ["<1.0.0 || >=2.0.0", "2.1.0", true],
    // wildcards and missing parts
    ["1.2.x", "1.2.9", true],
    ["1.2.x", "1.3.0", false],
    ["1.2", "1.2.7", true],
    ["=1.2", "1.3.0", false],
    ["1", "1.9.0", true],
    ["1", "2.0.0", false],
    ["*", "7.0.0", true],
    [">1.2", "1.2.9", false],
    [">1.2", "1.3.0", true],
    ["<=1.2", "1.2.9", true],
    ["<=1.2", "1.3.0", false],
    [">= 1.2.x", "1.2.0", true],
    ["<= 2.x", "2.9.0", true],
    ["<= 2.x", "3.0.0", false],
    ["!=1.2.x", "1.2.5", false],
    ["!=1.2.x", "1.3.0", true],
    ["!=1.2.3", "1.2.3", false],
    // tilde
    ["~1.2.3", "1.2.9", true],
    ["~1.2.3", "1.3.0", false],
    ["~1.2.3", "1.2.2", false],
    ["~1.2", "1.2.0", true],
    ["~1", "1.8.0", true],
    ["~1", "2.0.0", false],
    ["~>1.2", "1.2.4", true],
    // caret
    ["^1.2.3", "1.9.0", true],
    ["^1.2.3", "2.0.0", false],
    ["^0.2.3", "0.2.9", true],
    ["^0.2.3", "0.3.0", false],
    ["^0.0.3", "0.0.3", true],
    ["^0.0.3", "0.0.4", false],
    ["^0.0", "0.0.9", true],
    ["^0.0", "0.1.0", false],
    ["^1.2", "1.0.0", false],
    // hyphen ranges
    ["1.2 - 1.4.5", "1.4.5", true],
    ["1.2 - 1.4.5", "1.4.6", false],
    ["1.2 - 1.4", "1.4.9", true],
    // exact, with and without v
    ["1.2.3", "1.2.3", true],
    ["v1.2.3", "1.2.3", true],
    ["=1.2.3", "1.2.4", false],
    // prereleases only where the alternative names one
    ["*", "1.0.0-rc.1", false],
    [">=1.0.0", "1.1.0-rc.1", false],
    [">=1.0.0-0", "1.1.0-rc.1", true],
    [">=1.0.0-0 <2.0.0", "1.5.0-beta", true],
    [">=1.0.0-0 || >=3.0.0", "3.1.0-beta", true],
    [">=3.0.0 || <1.0.0", "3.1.0-beta", false],
    ["1.0.0-rc.1", "1.0.0-rc.1", true],
    [">=1.0.0-rc.2", "1.0.0-rc.10", true],
  ];
  for (const [constraint, version, want] of table) {
    test(`'${constraint}' ${want ? "accepts" : "rejects"} ${version}`, () => assert.equal(ok(constraint, version), want));
  }

  test("bad constraints are errors that quote the constraint", () => {
    for (const bad of [">>1.0", "1.0 &&", "abc", ">=1.0 ||", "1.2.3.4"]) {
      assert.throws(() => parseHelmConstraint(bad), (e: Error) => e instanceof ConstraintError && e.message.includes("improper constraint"), bad);
    }
  });

  test("selection: an exact string first, then the highest match, the latest release for * or empty", () => {
    const versions = ["2.0.0-rc.1", "1.10.0", "1.9.0", "1.2.0", "v1.1.0", "not-a-version"].map((version) => ({ version }));
    assert.equal(selectVersion(versions, "*")!.version, "1.10.0");
    assert.equal(selectVersion(versions, undefined)!.version, "1.10.0");
    assert.equal(selectVersion(versions, "")!.version, "1.10.0");
    assert.equal(selectVersion(versions, "~1.9")!.version, "1.9.0");
    assert.equal(selectVersion(versions, ">=1.0 <1.5")!.version, "1.2.0");
    assert.equal(selectVersion(versions, "not-a-version")!.version, "not-a-version");
    assert.equal(selectVersion(versions, "1.1.0")!.version, "v1.1.0");
    assert.equal(selectVersion(versions, ">=2.0.0-0")!.version, "2.0.0-rc.1");
    assert.equal(selectVersion(versions, ">=3.0"), undefined);
  });
});
