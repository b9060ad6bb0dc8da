import { strict as assert } from "node:assert";
import * as zlib from "node:zlib";
import { describe, test } from "node:test";
import { ChartArchiveError, chartMetadata, chartRelativePath, mergeValues, mergeValuesFiles, readChartArchive, withChartVersion, writeChartArchive } from "../../../controllers/source/chartarchive";
import { tarHeader } from "../../../controllers/source/tarball";
import { buildSummary, packageWithValues, withBuildMetadata } from "../../../controllers/source/helmchart";
import { ReconcileError } from "../../../controllers/runtime/errors";

function rawTgz(entries: { name: string; data?: string; type?: string; size?: number }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    parts.push(tarHeader(e.name, { mode: 0o644, size: e.size ?? data.length, typeflag: e.type ?? "0" }), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(parts));
}

const chart = (files: Record<string, string>) => ({ root: "web", files: new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])) });

describe("chart archives", () => {
  test("round trip: written deterministically under '<chart>/', read back the same", () => {
    const c = chart({ "Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n", "values.yaml": "a: 1\n", "templates/cm.yaml": "kind: ConfigMap\n" });
    const a = writeChartArchive(c);
    assert.deepEqual(writeChartArchive(c), a, "same bytes for the same files");
    const back = readChartArchive(a);
    assert.equal(back.root, "web");
    assert.deepEqual([...back.files.keys()].sort(), ["Chart.yaml", "templates/cm.yaml", "values.yaml"]);
    assert.deepEqual(chartMetadata(back), { apiVersion: "v2", name: "web", version: "1.0.0" });
  });

  test("long paths survive through PAX records", () => {
    const long = `templates/${"x".repeat(120)}.yaml`;
    const back = readChartArchive(writeChartArchive(chart({ "Chart.yaml": "name: web\nversion: 1.0.0\n", [long]: "k: v\n" })));
    assert.equal(back.files.get(long)!.toString(), "k: v\n");
  });

  test("entries outside the chart directory, oversized files and archives, and non-gzip input are refused", () => {
    assert.throws(() => readChartArchive(rawTgz([{ name: "web/Chart.yaml", data: "name: web\n" }, { name: "web/../../etc/passwd", data: "x" }])), (e: Error) => e instanceof ChartArchiveError && /outside the chart directory/.test(e.message));
    assert.throws(() => chartRelativePath("/etc/passwd"), /absolute path/);
    assert.throws(() => readChartArchive(rawTgz([{ name: "web/Chart.yaml", data: "x".repeat(2000) }]), { maxDecompressed: 1 << 20, maxFile: 1000 }), /'Chart\.yaml' is 2000 bytes, over the limit of 1000 bytes/);
    assert.throws(() => readChartArchive(rawTgz([{ name: "web/big", data: "x".repeat(300_000) }, { name: "web/Chart.yaml", data: "name: web\n" }]), { maxDecompressed: 100_000, maxFile: 1 << 20 }), /decompresses to more than 100000 bytes/);
    assert.throws(() => readChartArchive(Buffer.from("not gzip")), /not gzip/);
    assert.throws(() => readChartArchive(rawTgz([{ name: "web/values.yaml", data: "a: 1\n" }])), /Chart\.yaml file is missing/);
  });

  test("links and directories are not chart content", () => {
    const back = readChartArchive(rawTgz([{ name: "web/", type: "5" }, { name: "web/Chart.yaml", data: "name: web\nversion: 1.0.0\n" }, { name: "web/link", type: "2" }]));
    assert.deepEqual([...back.files.keys()], ["Chart.yaml"]);
  });

  test("metadata: name and version are required; the version is replaced keeping the rest", () => {
    assert.throws(() => chartMetadata(chart({ "Chart.yaml": "version: 1.0.0\n" })), /chart\.metadata\.name is required/);
    assert.throws(() => chartMetadata(chart({ "Chart.yaml": "name: web\n" })), /chart\.metadata\.version is required/);
    const next = withChartVersion(chart({ "Chart.yaml": "# keep me\nname: web\nversion: 1.0.0\nappVersion: \"2\"\n" }), "1.0.0+3");
    assert.equal(next.files.get("Chart.yaml")!.toString(), "# keep me\nname: web\nversion: 1.0.0+3\nappVersion: \"2\"\n");
  });
});

describe("values files", () => {
  test("deep merge: maps merge, lists and scalars are replaced, later files win", () => {
    assert.deepEqual(mergeValues({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3], e: null }, d: { x: 1 } }), { a: { b: 1, c: [3], e: null }, d: { x: 1 } });
  });

  test("only listed files are merged (values.yaml too), in order; missing ones fail unless ignored", () => {
    const c = chart({ "Chart.yaml": "name: web\nversion: 1.0.0\n", "values.yaml": "a: 1\nb: 1\n", "prod.yaml": "b: 2\n" });
    assert.deepEqual(mergeValuesFiles(c, ["prod.yaml"], false), { values: { b: 2 }, merged: ["prod.yaml"] });
    assert.deepEqual(mergeValuesFiles(c, ["values.yaml", "./prod.yaml"], false), { values: { a: 1, b: 2 }, merged: ["values.yaml", "./prod.yaml"] });
    assert.throws(() => mergeValuesFiles(c, ["values.yaml", "nope.yaml"], false), /no values file found at path 'nope\.yaml'/);
    assert.deepEqual(mergeValuesFiles(c, ["values.yaml", "nope.yaml"], true).merged, ["values.yaml"]);
    assert.throws(() => mergeValuesFiles(chart({ "Chart.yaml": "", "bad.yaml": "- 1\n" }), ["bad.yaml"], false), /unmarshaling values from 'bad\.yaml' failed/);
  });

  test("packaging stamps the version and writes merged values; merge errors are ValuesFilesError, stalled", () => {
    const c = chart({ "Chart.yaml": "name: web\nversion: 1.0.0\n", "values.yaml": "a: 1\n", "prod.yaml": "a: 2\n" });
    const { archive, merged } = packageWithValues(c, "1.0.0+4", ["values.yaml", "prod.yaml"], false);
    const back = readChartArchive(archive);
    assert.equal(chartMetadata(back).version, "1.0.0+4");
    assert.equal(back.files.get("values.yaml")!.toString(), "a: 2\n");
    assert.deepEqual(merged, ["values.yaml", "prod.yaml"]);
    assert.throws(() => packageWithValues(c, "1.0.0+4", ["x.yaml"], false), (e: ReconcileError) => e.reason === "ValuesFilesError" && e.stalled && e.options.condition === "BuildFailed");
  });

  test("build metadata replaces any there was; the summary reads as Flux's", () => {
    assert.equal(withBuildMetadata("1.2.3", "7"), "1.2.3+7");
    assert.equal(withBuildMetadata("v1.2.3-rc.1+old", "7"), "1.2.3-rc.1+7");
    assert.throws(() => withBuildMetadata("latest", "7"), (e: ReconcileError) => e.reason === "MetadataPatchError");
    assert.equal(buildSummary({ name: "web", version: "1.0.0", packaged: false, valuesFiles: [] }), "pulled 'web' chart with version '1.0.0'");
    assert.equal(buildSummary({ name: "web", version: "1.0.0+2", packaged: true, valuesFiles: ["a.yaml", "b.yaml"] }), "packaged 'web' chart with version '1.0.0+2' and merged values files [a.yaml b.yaml]");
  });
});
