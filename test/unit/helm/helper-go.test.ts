import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { loadTools, projectRoot } from "../../../local/tools";

// The Helm helper's own Go tests (controllers/helm/helper/*_test.go), with the toolchain and settings the
// tools build uses.
test("the Helm helper's Go tests pass", { timeout: 15 * 60_000 }, () => {
  const dir = join(projectRoot(), loadTools().builds["mooring-helm"]!.source!);
  const res = spawnSync("go", ["test", "-count=1", "./..."], { cwd: dir, encoding: "utf8", env: { ...process.env, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local", CGO_ENABLED: "0" } });
  assert.equal(res.error, undefined, `go test could not run: ${res.error?.message}`);
  assert.equal(res.status, 0, `go test failed:\n${res.stdout}\n${res.stderr}`);
  assert.match(res.stdout, /^ok\s+mooring\.dev\/helm-helper\b/m);
});
