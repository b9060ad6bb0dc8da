// The published package's shape: one copy of @pulumi/* in a user's project, no overrides to rely on, and a
// controllers image (production dependencies of the lock file) without @pulumi/*.
import { strict as assert } from "node:assert";
import { readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

// Compiled to dist/test/unit: the repository root is three levels up.
const root = path.resolve(__dirname, "..", "..", "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean; version?: string }> };

test("@pulumi/* are peer dependencies (the user's project holds the one copy), never dependencies", () => {
  for (const name of ["@pulumi/pulumi", "@pulumi/kubernetes"]) {
    assert.equal(pkg.dependencies?.[name], undefined, `${name} in dependencies`);
    assert.match(pkg.peerDependencies?.[name] ?? "", /^\^\d+\.\d+\.\d+$/, `${name}: a caret range in peerDependencies`);
  }
  assert.ok(pkg.devDependencies?.["@pulumi/pulumi"], "@pulumi/pulumi for this repository's own build and tests");
});

test("no overrides: what the package needs at run time is what a user's npm install resolves", () => {
  assert.equal(pkg.overrides, undefined);
});

test("the production install (the controllers image) holds no @pulumi/* package", () => {
  const pulumiPackages = Object.entries(lock.packages).filter(([p]) => /(^|\/)node_modules\/@pulumi\//.test(p));
  assert.ok(pulumiPackages.length > 0, "the lock file has @pulumi/pulumi for development");
  for (const [p, entry] of pulumiPackages) assert.equal(entry.dev, true, `${p} would be in the image`);
});

test("the mooring provider plugin ships as an executable of the package, beside the compiled provider", () => {
  const bin = pkg.bin as unknown as Record<string, string>;
  assert.equal(bin["pulumi-resource-mooring"], "bin/pulumi-resource-mooring");
  assert.ok((statSync(path.join(root, "bin", "pulumi-resource-mooring")).mode & 0o111) !== 0, "executable");
  const files = pkg.files as unknown as string[];
  assert.ok(files.includes("bin/") && files.includes("dist/provider/"), files.join(", "));
  assert.equal((pkg.exports as unknown as Record<string, unknown>)["./provider/impl/*"], undefined, "implementations are no API");
});

test("one copy of @pulumi/pulumi in this repository too: the devDependency satisfies @pulumi/kubernetes' own range", () => {
  const nested = Object.keys(lock.packages).filter((p) => /node_modules\/.+\/node_modules\/@pulumi\/pulumi$/.test(p));
  assert.deepEqual(nested, []);
});
