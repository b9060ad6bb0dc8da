import { strict as assert } from "node:assert";
import * as zlib from "node:zlib";
import { describe, test } from "node:test";
import { packageGitChart, plannedVersion, readSourceFiles, revisionMetadata } from "../../../controllers/source/gitchart";
import { readChartArchive } from "../../../controllers/source/chartarchive";
import { tarHeader } from "../../../controllers/source/tarball";
import { ReconcileError } from "../../../controllers/runtime/errors";

function tgz(files: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content);
    parts.push(tarHeader(name, { mode: 0o644, size: data.length, typeflag: "0" }), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(parts));
}

const sha = "0123456789abcdef0123456789abcdef01234567";
const base = { sourceRevision: `main@sha1:${sha}`, strategy: "ChartVersion" as const, valuesFiles: [] as string[], ignoreMissingValuesFiles: false, generation: 3, chartPath: "charts/web" };

describe("charts from a source artifact", () => {
  test("version metadata: the commit's first 12 characters for Revision, the generation with values files", () => {
    assert.equal(revisionMetadata(`main@sha1:${sha}`), "0123456789ab");
    assert.equal(plannedVersion("1.0.0", base), "1.0.0");
    assert.equal(plannedVersion("1.0.0", { ...base, strategy: "Revision" }), "1.0.0+0123456789ab");
    assert.equal(plannedVersion("1.0.0", { ...base, valuesFiles: ["v.yaml"] }), "1.0.0+3");
    assert.equal(plannedVersion("1.0.0", { ...base, strategy: "Revision", valuesFiles: ["v.yaml"] }), "1.0.0+0123456789ab.3");
  });

  test("only the chart directory and the named values files are read; paths outside the source are refused", () => {
    const src = tgz({ "charts/web/Chart.yaml": "name: web\nversion: 1.0.0\n", "charts/other/Chart.yaml": "x", "env/v.yaml": "a: 1\n", "README.md": "x" });
    const { chart, values } = readSourceFiles(src, "./charts/web/", ["env/v.yaml"]);
    assert.deepEqual([...chart.keys()], ["Chart.yaml"]);
    assert.deepEqual([...values.keys()], ["env/v.yaml"]);
    assert.throws(() => readSourceFiles(src, "../etc", []), (e: ReconcileError) => e.reason === "InvalidChartReference");
    assert.throws(() => readSourceFiles(tgz({ "../evil": "x" }), "charts/web", []), /points outside the source/);
  });

  test("packaging: .helmignore applied, values merged from source paths, vendored dependencies kept", async () => {
    const src = tgz({
      "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
      "charts/web/values.yaml": "a: 1\nb: 1\n",
      "charts/web/.helmignore": "docs/\n*.md\n",
      "charts/web/docs/x.txt": "x",
      "charts/web/NOTES.md": "x",
      "charts/web/templates/t.yaml": "k: v\n",
      "env/prod.yaml": "b: 2\n",
    });
    const build = await packageGitChart(src, { ...base, valuesFiles: ["charts/web/values.yaml", "env/prod.yaml"] });
    assert.equal(build.version, "1.0.0+3");
    assert.deepEqual(build.valuesFiles, ["charts/web/values.yaml", "env/prod.yaml"]);
    const chart = readChartArchive(build.archive!);
    assert.equal(chart.root, "web");
    assert.deepEqual([...chart.files.keys()].sort(), ["Chart.yaml", "templates/t.yaml", "values.yaml"]);
    assert.equal(chart.files.get("values.yaml")!.toString(), "a: 1\nb: 2\n");
    await assert.rejects(packageGitChart(src, { ...base, valuesFiles: ["env/none.yaml"] }), (e: ReconcileError) => e.reason === "ValuesFilesError" && /no values file found at path 'env\/none\.yaml'/.test(e.message));
    const withDep = tgz({ "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts.example.com\n" });
    await assert.rejects(packageGitChart(withDep, base), (e: ReconcileError) => e.reason === "DependencyBuildError" && /'redis'/.test(e.message));
    const vendored = tgz({ "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: redis\n", "charts/web/charts/redis-1.0.0.tgz": "x" });
    assert.equal((await packageGitChart(vendored, base)).version, "1.0.0");
  });

  test("dependencies: file:// from the same source, Chart.lock versions, remote ones through the callback, clear errors", async () => {
    const web = (deps: string) => `apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n${deps}`;
    const lib = { "libs/common/Chart.yaml": "apiVersion: v2\nname: common\nversion: 0.4.0\n", "libs/common/templates/x.yaml": "kind: ConfigMap\n", "libs/common/.helmignore": "*.md\n", "libs/common/NOTES.md": "left out\n" };
    const redis = readChartArchive(await packageGitChart(tgz({ "r/redis/Chart.yaml": "apiVersion: v2\nname: redis\nversion: 7.1.0\n", "r/redis/values.yaml": "port: 6379\n" }), { ...base, chartPath: "r/redis" }).then((b) => b.archive!));
    const asked: string[] = [];
    const remote = async (dep: { name: string; version?: string; repository?: string }) => {
      asked.push(`${dep.repository} ${dep.name} ${dep.version}`);
      return (await packageGitChart(tgz(Object.fromEntries([...redis.files].map(([k, v]) => [`r/redis/${k}`, v.toString()]))), { ...base, chartPath: "r/redis" })).archive!;
    };
    const src = tgz({ ...lib, "charts/web/Chart.yaml": web("- name: common\n  version: ~0.4\n  repository: file://../../libs/common\n  alias: base\n- name: redis\n  version: 7.x\n  repository: \"@bitnami\"\n") });
    const built = readChartArchive((await packageGitChart(src, base, undefined, remote)).archive!);
    assert.deepEqual([...built.files.keys()].sort(), ["Chart.yaml", "charts/common-0.4.0.tgz", "charts/redis-7.1.0.tgz"], "the layout helm dependency build writes");
    const common = readChartArchive(built.files.get("charts/common-0.4.0.tgz")!);
    assert.deepEqual([common.root, ...[...common.files.keys()].sort()], ["common", "Chart.yaml", "templates/x.yaml"], ".helmignore of the dependency applied; Helm applies the alias at load time");
    assert.deepEqual(asked, ["@bitnami redis 7.x"]);

    const locked = tgz({ ...lib, "charts/web/Chart.yaml": web("- name: redis\n  version: 7.x\n  repository: https://charts.example.com\n"), "charts/web/Chart.lock": "dependencies:\n- name: redis\n  version: 7.1.0\n  repository: https://charts.example.com\n" });
    asked.length = 0;
    await packageGitChart(locked, base, undefined, remote);
    assert.deepEqual(asked, ["https://charts.example.com redis 7.1.0"], "Chart.lock's resolved version is asked for");

    const dependencyError = (pattern: RegExp) => (e: ReconcileError) => e.reason === "DependencyBuildError" && pattern.test(e.message);
    await assert.rejects(packageGitChart(tgz({ ...lib, "charts/web/Chart.yaml": web("- name: common\n  version: ^1.0\n  repository: file://../../libs/common\n") }), base), dependencyError(/^dependency build error: failed to add local dependency 'common': can't get a valid version for constraint '\^1\.0'/));
    await assert.rejects(packageGitChart(tgz({ "charts/web/Chart.yaml": web("- name: gone\n  repository: file://../gone\n") }), base), dependencyError(/failed to add local dependency 'gone': no chart found at 'charts\/gone' \(reference 'file:\/\/\.\.\/gone'\)/));
    await assert.rejects(packageGitChart(tgz({ "charts/web/Chart.yaml": web("- name: up\n  repository: file://../../../up\n") }), base), dependencyError(/failed to add local dependency 'up': 'file:\/\/\.\.\/\.\.\/\.\.\/up' points outside the source/));
    await assert.rejects(packageGitChart(tgz({ "charts/web/Chart.yaml": web("- name: redis\n"), "charts/web/Chart.lock": "dependencies: [" }), base), dependencyError(/^dependency build error: Chart\.lock is not valid YAML/));
    await assert.rejects(packageGitChart(tgz({ "charts/web/Chart.yaml": web("- name: redis\n  repository: https://charts.example.com\n") }), base, undefined, async () => Buffer.from("not a chart")), dependencyError(/failed to add remote dependency 'redis': failed to load downloaded archive: chart archive is not gzip/));
  });
});
