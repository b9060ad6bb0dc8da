// Chart builds: Flux's build error reasons (each with its summary and condition), the summary a build reports,
// and semver build metadata on chart versions.
import { ReconcileError } from "../runtime/errors";
import { FetchFailedCondition } from "../api/source";
import { BuildFailedCondition } from "../api/source-helm";
import { parseHelmVersion } from "./helmsemver";

/** Flux's chart build error reasons, each with its summary and the condition it sets. */
export const BuildErrors = {
  reference: { reason: "InvalidChartReference", summary: "invalid chart reference", condition: FetchFailedCondition, stalled: true },
  pull: { reason: "ChartPullError", summary: "chart pull error", condition: FetchFailedCondition, stalled: false },
  metadata: { reason: "MetadataPatchError", summary: "chart metadata patch error", condition: BuildFailedCondition, stalled: true },
  values: { reason: "ValuesFilesError", summary: "values files merge error", condition: BuildFailedCondition, stalled: true },
  package: { reason: "ChartPackageError", summary: "chart package error", condition: BuildFailedCondition, stalled: false },
  dependency: { reason: "DependencyBuildError", summary: "dependency build error", condition: BuildFailedCondition, stalled: false },
} as const;

export function buildError(kind: keyof typeof BuildErrors, message: string, cause?: unknown): ReconcileError {
  const e = BuildErrors[kind];
  return new ReconcileError(e.reason, `${e.summary}: ${message}`, { condition: e.condition, stalled: e.stalled, cause });
}

/** "<version>+<metadata>", replacing any build metadata, as Helm's semver SetMetadata does. */
export function withBuildMetadata(version: string, metadata: string): string {
  const v = parseHelmVersion(version);
  if (!v) throw buildError("metadata", `failed to parse version from chart metadata as SemVer: '${version}'`);
  if (!/^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/.test(metadata)) throw buildError("metadata", `failed to set SemVer metadata on chart version: invalid metadata '${metadata}'`);
  return `${v.major}.${v.minor}.${v.patch}${v.pre ? `-${v.pre}` : ""}+${metadata}`;
}

/** What a build produced: Flux's Build summary fields. */
export interface ChartBuild {
  name: string;
  version: string;
  packaged: boolean;
  valuesFiles: string[];
  /** The archive to store; undefined when the stored artifact is already this build. */
  archive?: Buffer;
}

/** Flux's build summary: "pulled 'podinfo' chart with version '6.0.0'" (packaged …, and merged values files [...]). */
export function buildSummary(b: Pick<ChartBuild, "name" | "version" | "packaged" | "valuesFiles">): string {
  const values = b.valuesFiles.length ? ` and merged values files [${b.valuesFiles.join(" ")}]` : "";
  return `${b.packaged ? "packaged" : "pulled"} '${b.name}' chart with version '${b.version}'${values}`;
}

