// A Helm repository index (index.yaml): parsed (YAML or JSON), validated as Helm loads it (apiVersion
// required, entries without a name or a version dropped), each chart's versions sorted newest first, and
// rendered as the JSON the HelmRepository artifact holds.
import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import { compareHelmVersions, parseHelmVersion, selectVersion } from "./helmsemver";

export interface ChartVersionEntry {
  name: string;
  version: string;
  urls?: string[];
  digest?: string;
  created?: string;
  apiVersion?: string;
  [field: string]: unknown;
}

export interface HelmIndex {
  apiVersion: string;
  entries: Record<string, ChartVersionEntry[]>;
  generated?: string;
  [field: string]: unknown;
}

export class IndexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IndexError";
  }
}

/** "sha256:<hex>" of the bytes: the index revision, as Flux computes it over the fetched file. */
export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Newest first by semver; versions that do not parse go last, in their order. */
function sortVersions(list: ChartVersionEntry[]): ChartVersionEntry[] {
  return list
    .map((entry, i) => ({ entry, i, v: parseHelmVersion(entry.version) }))
    .sort((a, b) => (a.v && b.v ? compareHelmVersions(b.v, a.v) || a.i - b.i : a.v ? -1 : b.v ? 1 : a.i - b.i))
    .map((x) => x.entry);
}

export function parseIndex(bytes: Buffer): HelmIndex {
  if (bytes.length === 0) throw new IndexError("empty index.yaml");
  let raw: unknown;
  try {
    raw = parseYaml(bytes.toString("utf8"), { maxAliasCount: 100 });
  } catch (err) {
    throw new IndexError(`index.yaml is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new IndexError("index.yaml is not a mapping");
  const doc = raw as Record<string, unknown>;
  if (typeof doc.apiVersion !== "string" || doc.apiVersion === "") throw new IndexError("no API version in index.yaml");
  const entries: Record<string, ChartVersionEntry[]> = {};
  const rawEntries = doc.entries && typeof doc.entries === "object" ? (doc.entries as Record<string, unknown>) : {};
  for (const name of Object.keys(rawEntries).sort()) {
    const list = Array.isArray(rawEntries[name]) ? (rawEntries[name] as unknown[]) : [];
    const valid = list.filter((e): e is ChartVersionEntry => !!e && typeof e === "object" && typeof (e as ChartVersionEntry).version === "string" && (e as ChartVersionEntry).version !== "");
    const kept = valid.map((e) => ({ ...e, name: typeof e.name === "string" && e.name ? e.name : name, apiVersion: e.apiVersion || "v1" }));
    entries[name] = sortVersions(kept);
  }
  return { ...doc, apiVersion: doc.apiVersion, entries };
}

/** The artifact content: the parsed, sorted index as indented JSON (Flux stores the index this way). */
export function indexArtifactContent(index: HelmIndex): string {
  return JSON.stringify(index, null, 2);
}

export class ChartNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChartNotFoundError";
  }
}

/** The entry for a chart at an exact version or the highest one a Helm constraint allows, as Flux picks it. */
export function findChartVersion(index: HelmIndex, chart: string, version: string | undefined): ChartVersionEntry {
  const list = index.entries[chart];
  if (!list) throw new ChartNotFoundError(`no chart name found`);
  if (list.length === 0) throw new ChartNotFoundError(`no chart version found`);
  const hit = selectVersion(list, version);
  if (!hit) throw new ChartNotFoundError(`no '${chart}' chart with version matching '${version || "*"}' found`);
  return hit;
}
