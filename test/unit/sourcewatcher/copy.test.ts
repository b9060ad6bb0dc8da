import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ArtifactStager, CopyError, globToRegExp, literalPrefix, mergeYamlFiles, parseTo } from "../../../controllers/sourcewatcher/copy";
import { writeArchive } from "../../../controllers/source/tarball";
import { IgnoreMatcher } from "../../../controllers/source/ignore";
import type { CopyOperation } from "../../../controllers/api/source-extensions";

/** Temporary directories, removed when the file's tests end. */
const temps: string[] = [];
after(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

function tree(files: Record<string, string>): string {
  const dir = tempDir("ag-src-");
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

function listFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/")] = fs.readFileSync(path.join(e.parentPath, e.name), "utf8");
  }
  return out;
}

async function stage(sources: Record<string, Record<string, string>>, rules: CopyOperation[], limits?: { maxBytes: number; maxFiles: number }): Promise<Record<string, string>> {
  const dirs = new Map(Object.entries(sources).map(([alias, files]) => [alias, tree(files)]));
  const staging = tempDir("ag-out-");
  await new ArtifactStager(dirs, staging, limits).applyAll(rules);
  return listFiles(staging);
}

const repo = {
  "deploy/app/deployment.yaml": "kind: Deployment\n",
  "deploy/app/service.yaml": "kind: Service\n",
  "deploy/app/README.md": "docs\n",
  "deploy/app/testdata/x.yaml": "kind: Test\n",
  "configs/a.yaml": "a: 1\n",
  "configs/b.yaml": "b: 2\n",
  "configs/c.json": "{}\n",
  "top.yaml": "top: true\n",
};

test("a file goes to the named path, or into a directory when the destination ends in '/'", async () => {
  assert.deepEqual(await stage({ repo }, [{ from: "@repo/top.yaml", to: "@artifact/apps/app.yaml" }]), { "apps/app.yaml": "top: true\n" });
  assert.deepEqual(await stage({ repo }, [{ from: "@repo/top.yaml", to: "@artifact/apps/" }]), { "apps/top.yaml": "top: true\n" });
});

test("a directory is copied as a subdirectory; the source root copies the whole tree", async () => {
  assert.deepEqual(Object.keys(await stage({ repo }, [{ from: "@repo/configs/", to: "@artifact/apps/" }])).sort(), ["apps/configs/a.yaml", "apps/configs/b.yaml", "apps/configs/c.json"]);
  assert.deepEqual(Object.keys(await stage({ repo }, [{ from: "@repo/", to: "@artifact/" }])).sort(), Object.keys(repo).sort());
});

test("globs: '**' strips the prefix and recurses, '*.yaml' copies the matches into the destination", async () => {
  assert.deepEqual(Object.keys(await stage({ repo }, [{ from: "@repo/deploy/**", to: "@artifact/" }])).sort(), ["app/README.md", "app/deployment.yaml", "app/service.yaml", "app/testdata/x.yaml"]);
  assert.deepEqual(Object.keys(await stage({ repo }, [{ from: "@repo/configs/*.yaml", to: "@artifact/apps/" }])).sort(), ["apps/a.yaml", "apps/b.yaml"]);
  assert.deepEqual(Object.keys(await stage({ repo }, [{ from: "@repo/**/*.yaml", to: "@artifact/all/" }])).sort(), ["all/configs/a.yaml", "all/configs/b.yaml", "all/deploy/app/deployment.yaml", "all/deploy/app/service.yaml", "all/deploy/app/testdata/x.yaml", "all/top.yaml"]);
});

test("exclude: names at any depth, paths under the from prefix, and '**' directories", async () => {
  const got = await stage({ repo }, [{ from: "@repo/deploy/**", to: "@artifact/", exclude: ["*.md", "**/testdata/**"] }]);
  assert.deepEqual(Object.keys(got).sort(), ["app/deployment.yaml", "app/service.yaml"]);
  const underPrefix = await stage({ repo }, [{ from: "@repo/configs/*", to: "@artifact/", exclude: ["b.yaml", "*.json"] }]);
  assert.deepEqual(Object.keys(underPrefix), ["a.yaml"]);
});

test("later rules overwrite earlier ones; Merge merges YAML maps and replaces arrays, as Helm's --values", async () => {
  const chart = { "podinfo/Chart.yaml": "name: podinfo\n", "podinfo/values.yaml": "replicas: 1\nimage:\n  tag: 1.0.0\n  pullPolicy: IfNotPresent\nhosts: [a, b]\n" };
  const values = { "prod.yaml": "replicas: 3\nimage:\n  tag: 2.0.0\nhosts: [c]\n" };
  const got = await stage({ chart, values }, [
    { from: "@chart/", to: "@artifact/" },
    { from: "@values/prod.yaml", to: "@artifact/podinfo/values.yaml", strategy: "Merge" },
  ]);
  assert.equal(got["podinfo/Chart.yaml"], "name: podinfo\n");
  assert.equal(got["podinfo/values.yaml"], "replicas: 3\nimage:\n  tag: 2.0.0\n  pullPolicy: IfNotPresent\nhosts:\n  - c\n");
  const overwritten = await stage({ chart, values }, [
    { from: "@chart/", to: "@artifact/" },
    { from: "@values/prod.yaml", to: "@artifact/podinfo/values.yaml" },
  ]);
  assert.equal(overwritten["podinfo/values.yaml"], values["prod.yaml"]);
  // Merge into a file that is not there yet is a copy.
  assert.deepEqual(await stage({ values }, [{ from: "@values/prod.yaml", to: "@artifact/v.yaml", strategy: "Merge" }]), { "v.yaml": values["prod.yaml"] });
});

test("Extract unpacks tarballs (and skips other files a glob matches)", async () => {
  const chartDir = tree({ "podinfo/Chart.yaml": "name: podinfo\n", "podinfo/templates/cm.yaml": "kind: ConfigMap\n" });
  const releases = tree({ "notes.txt": "x" });
  await writeArchive(chartDir, new IgnoreMatcher(), path.join(releases, "podinfo-1.0.0.tgz"));
  const staging = tempDir("ag-out-");
  await new ArtifactStager(new Map([["rel", releases]]), staging).applyAll([{ from: "@rel/*", to: "@artifact/charts/", strategy: "Extract" }]);
  assert.deepEqual(listFiles(staging), { "charts/podinfo/Chart.yaml": "name: podinfo\n", "charts/podinfo/templates/cm.yaml": "kind: ConfigMap\n" });
});

const rejects = (sources: Record<string, Record<string, string>>, rules: CopyOperation[], re: RegExp, limits?: { maxBytes: number; maxFiles: number }) =>
  assert.rejects(stage(sources, rules, limits), (e: unknown) => e instanceof CopyError && re.test(e.message));

test("bad input: a rule that matches nothing, everything excluded, a missing path, an unknown alias", async () => {
  await rejects({ repo }, [{ from: "@repo/nothing/*.yaml", to: "@artifact/" }], /copy from '@repo\/nothing\/\*.yaml' to '@artifact\/': no files match pattern 'nothing\/\*.yaml' in source 'repo'/);
  await rejects({ repo }, [{ from: "@repo/configs/*.yaml", to: "@artifact/", exclude: ["*.yaml"] }], /all files matching pattern 'configs\/\*.yaml' in source 'repo' were excluded/);
  await rejects({ repo }, [{ from: "@repo/missing.yaml", to: "@artifact/" }], /'missing.yaml' does not exist in the source/);
  await rejects({ repo }, [{ from: "@other/x", to: "@artifact/" }], /source alias 'other' is not in spec.sources/);
});

test("bad input: traversal and absolute paths in 'to' or 'from' are refused before anything is copied", async () => {
  await rejects({ repo }, [{ from: "@repo/top.yaml", to: "@artifact/../../etc/passwd" }], /copy destination '@artifact\/..\/..\/etc\/passwd' must not contain '..'/);
  assert.throws(() => parseTo("@artifact//etc/x"), /must be relative/);
  await rejects({ repo }, [{ from: "@repo/../secret", to: "@artifact/" }], /copy source '@repo\/..\/secret' must not contain '..'/);
});

test("bad input: Extract of a file that is not a tarball, and of a .tgz that is not gzip", async () => {
  await rejects({ repo }, [{ from: "@repo/top.yaml", to: "@artifact/", strategy: "Extract" }], /strategy Extract takes tarball files \(.tar.gz, .tgz\), not 'top.yaml'/);
  await rejects({ bad: { "fake.tgz": "plain text" } }, [{ from: "@bad/fake.tgz", to: "@artifact/", strategy: "Extract" }], /'fake.tgz' is not a gzip-compressed tarball/);
  await rejects({ repo }, [{ from: "@repo/configs/", to: "@artifact/", strategy: "Extract" }], /not the directory 'configs'/);
});

test("limits: bytes and files staged", async () => {
  await rejects({ repo }, [{ from: "@repo/", to: "@artifact/" }], /exceeds the limit of 3 files/, { maxBytes: 1 << 20, maxFiles: 3 });
  await rejects({ repo }, [{ from: "@repo/", to: "@artifact/" }], /exceeds the limit of 20 bytes/, { maxBytes: 20, maxFiles: 100 });
});

test("links in a source are neither followed out of it nor copied", async () => {
  const src = tree({ "ok.yaml": "a: 1\n" });
  const outside = tree({ "secret": "s3cr3t" });
  fs.symlinkSync(outside, path.join(src, "escape"));
  await assert.rejects(new ArtifactStager(new Map([["s", src]]), tempDir("ag-out-")).applyAll([{ from: "@s/escape/secret", to: "@artifact/" }]), /resolves outside the source/);
  const staging = tempDir("ag-out-");
  await new ArtifactStager(new Map([["s", src]]), staging).applyAll([{ from: "@s/**", to: "@artifact/" }]);
  assert.deepEqual(listFiles(staging), { "ok.yaml": "a: 1\n" });
});

test("globs and their literal prefix", () => {
  assert.equal(literalPrefix("deploy/*/x.yaml"), "deploy");
  assert.equal(literalPrefix("**/*.yaml"), "");
  assert.ok(globToRegExp("**/*.yaml").test("a/b/c.yaml"));
  assert.ok(globToRegExp("**/*.yaml").test("c.yaml"));
  assert.ok(!globToRegExp("*.yaml").test("a/c.yaml"));
  assert.ok(globToRegExp("v[0-9].?ml").test("v1.yml"));
  assert.throws(() => globToRegExp("a["), /without a closing/);
});

test("mergeYamlFiles: multi-document files merge into one map; non-maps are refused", () => {
  assert.equal(mergeYamlFiles("a: 1\n---\nb: 2\n", "b: 3\n", "base", "overlay"), "a: 1\nb: 3\n");
  assert.throws(() => mergeYamlFiles("- a\n", "b: 3\n", "base.yaml", "o"), /'base.yaml' must hold YAML maps, not a list/);
});
