// Chart dependencies of a chart packaged from a source artifact, as Flux's dependency manager builds them: the
// dependencies of Chart.yaml (Chart.lock's when present) that charts/ does not already hold are added — local
// ones ("file://<path>", or no repository: charts/<name>) from the same source artifact, the others from a chart
// repository — as charts/<name>-<version>.tgz archives, the layout `helm dependency build` writes (Helm applies
// aliases when it loads the chart, so one archive serves every alias of the same chart version).
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { ChartArchiveError, chartMetadata, readChartArchive, writeChartArchive, type ChartArchiveLimits } from "./chartarchive";
import { ConstraintError, parseHelmConstraint, parseHelmVersion, satisfies } from "./helmsemver";

export interface ChartDependency {
  name: string;
  version?: string;
  repository?: string;
  alias?: string;
}

/** Why a dependency could not be added; the message names the dependency. */
export class DependencyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DependencyError";
  }
}

/** Where dependencies come from. */
export interface DependencySources {
  /** The files under a directory of the source artifact, relative to it (empty when there is none). */
  localDir(dir: string): Map<string, Buffer>;
  /** A chart archive from a repository, for a dependency whose repository is not local. */
  remote?(dep: ChartDependency): Promise<Buffer>;
  /** Limits for reading downloaded archives. */
  archiveLimits: ChartArchiveLimits;
}

function parseDependencies(data: Buffer | undefined, file: string): ChartDependency[] {
  if (!data) return [];
  let doc: { dependencies?: unknown };
  try {
    doc = (parseYaml(data.toString("utf8")) ?? {}) as { dependencies?: unknown };
  } catch (err) {
    throw new DependencyError(`${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(doc.dependencies)) return [];
  return doc.dependencies
    .filter((d): d is Record<string, unknown> => !!d && typeof d === "object" && typeof (d as { name?: unknown }).name === "string")
    .map((d) => ({
      name: d.name as string,
      version: d.version === undefined || d.version === null ? undefined : String(d.version),
      repository: typeof d.repository === "string" && d.repository !== "" ? d.repository : undefined,
      alias: typeof d.alias === "string" && d.alias !== "" ? d.alias : undefined,
    }));
}

/** The declared dependencies (Chart.lock's when present) that charts/ does not hold, by alias or name. */
export function missingDependencies(files: Map<string, Buffer>): ChartDependency[] {
  const lock = parseDependencies(files.get("Chart.lock"), "Chart.lock");
  const declared = parseDependencies(files.get("Chart.yaml"), "Chart.yaml");
  const aliases = new Map(declared.map((d) => [d.name, d.alias] as const));
  // The lock records resolved versions; aliases stay in Chart.yaml.
  const reqs = files.has("Chart.lock") ? lock.map((d) => ({ ...d, alias: d.alias ?? aliases.get(d.name) })) : declared;
  const vendored = (name: string) => [...files.keys()].some((k) => k.startsWith(`charts/${name}/`) || (k.startsWith(`charts/${name}-`) && k.endsWith(".tgz") && !k.slice(7).includes("/")));
  return reqs.filter((d) => !vendored(d.alias ?? d.name) && !vendored(d.name));
}

export function isLocalDependency(dep: ChartDependency): boolean {
  return dep.repository === undefined || dep.repository.startsWith("file://");
}

/** The source directory of a local dependency, or a DependencyError for one outside the source. */
export function localDependencyDir(chartDir: string, dep: ChartDependency): string {
  const rel = dep.repository === undefined ? `charts/${dep.name}` : dep.repository.slice("file://".length);
  const joined = path.posix.normalize(path.posix.join(chartDir, rel)).replace(/\/+$/, "");
  if (joined === ".." || joined.startsWith("../") || path.posix.isAbsolute(rel)) throw new DependencyError(`'${dep.repository}' points outside the source`);
  return joined;
}

function checkVersion(dep: ChartDependency, version: string): void {
  if (!dep.version) return;
  let constraint;
  try {
    constraint = parseHelmConstraint(dep.version);
  } catch (err) {
    if (err instanceof ConstraintError) throw new DependencyError(`invalid version/constraint format '${dep.version}': ${err.message}`);
    throw err;
  }
  const v = parseHelmVersion(version);
  if (!v || !satisfies(v, constraint)) throw new DependencyError(`can't get a valid version for constraint '${dep.version}' (the chart has '${version}')`);
}

/** A dependency as a chart archive and the version it holds. */
async function loadDependency(chartDir: string, dep: ChartDependency, sources: DependencySources, applyIgnore: (files: Map<string, Buffer>) => Map<string, Buffer>): Promise<{ archive: Buffer; version: string }> {
  if (isLocalDependency(dep)) {
    const dir = localDependencyDir(chartDir, dep);
    const files = applyIgnore(sources.localDir(dir));
    if (!files.has("Chart.yaml")) throw new DependencyError(`no chart found at '${dir}' (reference '${dep.repository ?? `charts/${dep.name}`}')`);
    let meta;
    try {
      meta = chartMetadata({ root: "", files });
    } catch (err) {
      if (err instanceof ChartArchiveError) throw new DependencyError(`failed to load chart from '${dir}': ${err.message}`);
      throw err;
    }
    checkVersion(dep, meta.version);
    return { archive: writeChartArchive({ root: meta.name, files }), version: meta.version };
  }
  if (!sources.remote) throw new DependencyError(`no chart repository for '${dep.repository}'`);
  const archive = await sources.remote(dep);
  try {
    const chart = readChartArchive(archive, sources.archiveLimits);
    const meta = chartMetadata(chart);
    if (meta.name !== dep.name) throw new ChartArchiveError(`the archive holds chart '${meta.name}', not '${dep.name}'`);
    return { archive, version: meta.version };
  } catch (err) {
    if (err instanceof ChartArchiveError) throw new DependencyError(`failed to load downloaded archive: ${err.message}`);
    throw err;
  }
}

/** The files the missing dependencies add to the chart: charts/<name>-<version>.tgz */
export async function buildDependencies(chartDir: string, files: Map<string, Buffer>, sources: DependencySources, applyIgnore: (files: Map<string, Buffer>) => Map<string, Buffer>): Promise<{ files: Map<string, Buffer>; resolved: number }> {
  const missing = missingDependencies(files);
  const added = new Map<string, Buffer>();
  for (const dep of missing) {
    try {
      const { archive, version } = await loadDependency(chartDir, dep, sources, applyIgnore);
      added.set(`charts/${dep.name}-${version}.tgz`, archive);
    } catch (err) {
      if (err instanceof DependencyError) throw new DependencyError(`failed to add ${isLocalDependency(dep) ? "local" : "remote"} dependency '${dep.alias ?? dep.name}': ${err.message}`);
      throw err;
    }
  }
  return { files: added, resolved: missing.length };
}
