// Packaging a chart directory from a GitRepository artifact, as Flux's local chart builder does: the chart at
// spec.chart (its .helmignore applied), version from Chart.yaml, values files (paths in the source, not the
// chart) merged into values.yaml, and build metadata appended: the first 12 characters of the commit for
// reconcileStrategy Revision, the generation when there are values files ("<sha12>.<generation>" with both).
// Missing dependencies are added as Flux's dependency manager adds them (see chartdeps.ts).
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { buildDependencies, DependencyError, type ChartDependency } from "./chartdeps";
import { ChartArchiveError, chartMetadata, defaultChartArchiveLimits, gunzipLimited, mergeValues, tarEntries, withChartVersion, withValues, writeChartArchive, type ChartFiles } from "./chartarchive";
import { parsePatterns, IgnoreMatcher } from "./ignore";
import { buildError, withBuildMetadata, type ChartBuild } from "./chartbuild";

export interface SourceTreeLimits {
  /** Largest decompressed source artifact read. */
  maxDecompressed: number;
  /** Largest file taken into the chart or read as values. */
  maxFile: number;
}

export const defaultSourceTreeLimits: SourceTreeLimits = { maxDecompressed: 512 << 20, maxFile: 5 << 20 };

/** "main@sha1:<sha>" → the first 12 characters of the commit. */
export function revisionMetadata(revision: string): string {
  const sha = /(?:^|@|:)([0-9a-f]{40}|[0-9a-f]{64})$/.exec(revision)?.[1];
  return (sha ?? revision.replace(/[^0-9A-Za-z-]/g, "")).slice(0, 12);
}

function cleanRel(p: string): string | undefined {
  const norm = path.posix.normalize(p.replace(/\\/g, "/").replace(/^\.?\/+/, "")).replace(/\/+$/, "");
  if (norm === ".." || norm.startsWith("../") || path.posix.isAbsolute(norm)) return undefined;
  return norm === "." ? "" : norm;
}

/** The files of the chart directory and the wanted values files, read from a source artifact (.tar.gz). */
export function readSourceFiles(tgz: Buffer, chartPath: string, valuesFiles: readonly string[], limits: SourceTreeLimits = defaultSourceTreeLimits): { chart: Map<string, Buffer>; values: Map<string, Buffer> } {
  const dir = cleanRel(chartPath);
  if (dir === undefined || dir === "") throw buildError("reference", `chart path '${chartPath}' must be a directory inside the source`);
  const wanted = new Map(valuesFiles.map((v) => [cleanRel(v), v] as const).filter((e): e is [string, string] => e[0] !== undefined));
  const chart = new Map<string, Buffer>();
  const values = new Map<string, Buffer>();
  let tar: Buffer;
  try {
    tar = gunzipLimited(tgz, limits.maxDecompressed, "source artifact");
  } catch (err) {
    throw buildError("package", (err as Error).message, err);
  }
  for (const e of tarEntries(tar)) {
    if (e.type !== "0") continue;
    const rel = cleanRel(e.name);
    if (rel === undefined) throw buildError("package", `source artifact entry '${e.name}' points outside the source`);
    const inChart = rel.startsWith(`${dir}/`);
    const asValues = wanted.has(rel);
    if (!inChart && !asValues) continue;
    if (e.size > limits.maxFile) throw buildError("package", `file '${rel}' is ${e.size} bytes, over the limit of ${limits.maxFile} bytes (--helm-chart-file-max-size)`);
    if (inChart) chart.set(rel.slice(dir.length + 1), Buffer.from(e.data));
    if (asValues) values.set(rel, Buffer.from(e.data));
  }
  return { chart, values };
}

/** Files .helmignore leaves in (it and the rest as Helm's loader reads them; .helmignore itself stays out). */
function applyHelmignore(files: Map<string, Buffer>): Map<string, Buffer> {
  const ignore = files.get(".helmignore");
  if (!ignore) return files;
  const matcher = new IgnoreMatcher(parsePatterns(ignore.toString("utf8")));
  const kept = new Map<string, Buffer>();
  for (const [rel, data] of files) {
    if (rel === ".helmignore") continue;
    const parts = rel.split("/");
    const dirIgnored = parts.slice(0, -1).some((_, i) => matcher.ignores(parts.slice(0, i + 1).join("/"), true));
    if (!dirIgnored && !matcher.ignores(rel, false)) kept.set(rel, data);
  }
  return kept;
}

export interface GitChartOptions {
  chartPath: string;
  sourceRevision: string;
  strategy: "ChartVersion" | "Revision";
  valuesFiles: readonly string[];
  ignoreMissingValuesFiles: boolean;
  generation: number;
}

/** Name and version the build will have (no archive work), for the up-to-date check. */
export function plannedVersion(version: string, o: Pick<GitChartOptions, "sourceRevision" | "strategy" | "valuesFiles" | "generation">): string {
  const parts: string[] = [];
  if (o.strategy === "Revision") parts.push(revisionMetadata(o.sourceRevision));
  if (o.valuesFiles.length) parts.push(String(o.generation));
  return parts.length ? withBuildMetadata(version, parts.join(".")) : version;
}

/**
 * Packages the chart directory of a source artifact, its missing dependencies added (local ones from the same
 * artifact, the others through `remote`).
 */
export async function packageGitChart(tgz: Buffer, o: GitChartOptions, limits: SourceTreeLimits = defaultSourceTreeLimits, remote?: (dep: ChartDependency) => Promise<Buffer>): Promise<ChartBuild> {
  const { chart: raw, values } = readSourceFiles(tgz, o.chartPath, o.valuesFiles, limits);
  if (!raw.has("Chart.yaml")) throw buildError("reference", `no chart found at path '${o.chartPath}' in the source revision '${o.sourceRevision}' (no Chart.yaml)`);
  const files = applyHelmignore(raw);
  let meta;
  try {
    meta = chartMetadata({ root: "", files });
  } catch (err) {
    if (err instanceof ChartArchiveError) throw buildError("reference", err.message, err);
    throw err;
  }
  const chartDir = cleanRel(o.chartPath)!;
  try {
    const deps = await buildDependencies(chartDir, files, { localDir: (dir) => readSourceFiles(tgz, dir, [], limits).chart, remote, archiveLimits: { ...defaultChartArchiveLimits, maxFile: limits.maxFile } }, applyHelmignore);
    for (const [rel, data] of deps.files) files.set(rel, data);
  } catch (err) {
    if (err instanceof DependencyError) throw buildError("dependency", err.message, err);
    throw err;
  }
  const version = plannedVersion(meta.version, o);
  let chart: ChartFiles = { root: meta.name, files };
  if (version !== meta.version) chart = withChartVersion(chart, version);
  const merged: string[] = [];
  if (o.valuesFiles.length) {
    let result: Record<string, unknown> = {};
    for (const p of o.valuesFiles) {
      const data = values.get(cleanRel(p) ?? "");
      if (!data) {
        if (o.ignoreMissingValuesFiles) continue;
        throw buildError("values", `failed to merge chart values: no values file found at path '${p}'`);
      }
      let parsed: unknown;
      try {
        parsed = parseYaml(data.toString("utf8")) ?? {};
      } catch (err) {
        throw buildError("values", `failed to merge chart values: unmarshaling values from '${p}' failed: ${(err as Error).message.split("\n")[0]}`, err);
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw buildError("values", `failed to merge chart values: unmarshaling values from '${p}' failed: not a mapping`);
      result = mergeValues(result, parsed as Record<string, unknown>);
      merged.push(p);
    }
    chart = withValues(chart, result);
  }
  return { name: meta.name, version, packaged: true, valuesFiles: merged, archive: writeChartArchive(chart) };
}
