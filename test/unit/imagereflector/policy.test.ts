// Choosing the latest tag: semver ranges, alphabetical and numerical order, filterTags with extract, and
// the latestTags of a scan result.
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { latestTag, latestTags, PolicyError } from "../../../controllers/imagereflector/policy";
import { parseImageName } from "../../../controllers/imagereflector/reference";
import type { ImagePolicySpec } from "../../../controllers/api/image";

const spec = (policy: ImagePolicySpec["policy"], filterTags?: ImagePolicySpec["filterTags"]): ImagePolicySpec => ({ imageRepositoryRef: { name: "r" }, policy, filterTags });

describe("image policy", () => {
  test("semver: the highest version in the range; v-prefixed tags count; others are skipped", () => {
    const tags = ["1.2.3", "v1.2.4", "1.3.0-rc.1", "latest", "2.0.0", "1.10.0"];
    assert.equal(latestTag(spec({ semver: { range: ">=1.0.0 <2.0.0" } }), tags), "1.10.0");
    assert.equal(latestTag(spec({ semver: { range: "~1.2" } }), tags), "v1.2.4");
    assert.equal(latestTag(spec({ semver: { range: ">=3" } }), tags), undefined);
  });

  test("an invalid semver range is a PolicyError", () => {
    assert.throws(() => latestTag(spec({ semver: { range: ">=>1" } }), ["1.0.0"]), (e: Error) => e instanceof PolicyError && /invalid semver range '>=>1'/.test(e.message));
  });

  test("exactly one policy kind", () => {
    assert.throws(() => latestTag(spec({}), ["a"]), /exactly one of semver, alphabetical, numerical/);
    assert.throws(() => latestTag(spec({ alphabetical: {}, numerical: {} }), ["a"]), /found 2/);
  });

  test("alphabetical asc picks the last, desc the first", () => {
    const tags = ["RELEASE.2024-01-02", "RELEASE.2024-03-01", "RELEASE.2023-12-31"];
    assert.equal(latestTag(spec({ alphabetical: {} }), tags), "RELEASE.2024-03-01");
    assert.equal(latestTag(spec({ alphabetical: { order: "desc" } }), tags), "RELEASE.2023-12-31");
  });

  test("numerical with filterTags and a named extract ($ts), Go's (?P<name>) syntax", () => {
    const tags = ["main-abc-100", "main-def-99", "dev-xyz-500", "main-ghi-1000", "latest"];
    const f = { pattern: "^main-[a-z]+-(?P<ts>\\d+)$", extract: "$ts" };
    assert.equal(latestTag(spec({ numerical: { order: "asc" } }, f), tags), "main-ghi-1000");
    assert.equal(latestTag(spec({ numerical: { order: "desc" } }, f), tags), "main-def-99");
    assert.throws(() => latestTag(spec({ numerical: {} }), tags), /tag 'main-abc-100' gives 'main-abc-100', which is not a number/);
  });

  test("semver over extracted values", () => {
    assert.equal(latestTag(spec({ semver: { range: ">=1.0.0" } }, { pattern: "^app-(?P<v>.*)$", extract: "${v}" }), ["app-1.0.0", "app-1.5.0", "other-9.0.0"]), "app-1.5.0");
  });

  test("latestTags: 10 tags in reverse alphabetical order", () => {
    const tags = Array.from({ length: 15 }, (_, i) => `t${String(i).padStart(2, "0")}`);
    assert.deepEqual(latestTags(tags), ["t14", "t13", "t12", "t11", "t10", "t09", "t08", "t07", "t06", "t05"]);
  });

  test("image names: Docker Hub expansion, registry hosts, no tag or digest", () => {
    assert.deepEqual(parseImageName("nginx"), { registry: "index.docker.io", repository: "library/nginx", canonical: "index.docker.io/library/nginx" });
    assert.deepEqual(parseImageName("localhost:5000/org/app"), { registry: "localhost:5000", repository: "org/app", canonical: "localhost:5000/org/app" });
    assert.equal(parseImageName("ghcr.io/org/app").canonical, "ghcr.io/org/app");
    assert.throws(() => parseImageName("ghcr.io/org/app:1.0"), /must not contain a tag/);
    assert.throws(() => parseImageName("ghcr.io/org/app@sha256:00"), /must not contain a digest/);
    assert.throws(() => parseImageName("https://ghcr.io/org/app"), /must not have a scheme/);
  });
});
