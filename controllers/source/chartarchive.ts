// Helm chart archives in memory: read a .tgz safely (decompressed size and per-file limits, no entry outside
// the chart directory, links and devices skipped), and write one deterministically (sorted, "<chart>/" prefix,
// mtime 0, mode 0644) the way `helm package` lays it out. Used to merge values files into a pulled chart and to
// package a chart directory from a Git artifact.
import * as zlib from "node:zlib";
import * as path from "node:path";
import { parse as parseYaml, parseDocument, stringify } from "yaml";
import { tarHeader } from "./tarball";

export interface ChartArchiveLimits {
  /** Largest decompressed archive (Helm's secure loader: 100 MiB). */
  maxDecompressed: number;
  /** Largest single file (Helm's secure loader: 5 MiB). */
  maxFile: number;
}

export const defaultChartArchiveLimits: ChartArchiveLimits = { maxDecompressed: 100 << 20, maxFile: 5 << 20 };

export class ChartArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChartArchiveError";
  }
}

export interface ChartFiles {
  /** The top-level directory of the archive (usually the chart name). */
  root: string;
  /** Files by path relative to the chart directory ("Chart.yaml", "templates/x.yaml"). */
  files: Map<string, Buffer>;
}

const block = 512;

function field(h: Buffer, start: number, len: number): string {
  const raw = h.subarray(start, start + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul === -1 ? len : nul).toString("utf8");
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const len = Number(data.subarray(at, space).toString("ascii"));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, at + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

/** A path inside the chart directory, or a ChartArchiveError for one that would leave it. */
export function chartRelativePath(name: string): { root: string; rel: string } {
  const clean = name.replace(/\\/g, "/");
  if (clean.startsWith("/") || /^[a-zA-Z]:/.test(clean)) throw new ChartArchiveError(`chart archive entry '${name}' is an absolute path`);
  const parts = clean.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new ChartArchiveError(`chart archive entry '${name}' points outside the chart directory`);
  return { root: parts[0] ?? "", rel: parts.slice(1).join("/") };
}

export interface TarEntry {
  name: string;
  /** "0" regular file, "5" directory, "2" symlink, … (PAX and GNU long-name records are applied, not returned). */
  type: string;
  size: number;
  data: Buffer;
}

/** The entries of an uncompressed tar, PAX and GNU long names applied. */
export function* tarEntries(tar: Buffer): Generator<TarEntry> {
  let pending: Record<string, string> = {};
  let at = 0;
  while (at + block <= tar.length) {
    const h = tar.subarray(at, at + block);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(field(h, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(h[156]!);
    const prefix = field(h, 345, 155);
    const data = tar.subarray(at + block, at + block + size);
    at += block + Math.ceil(size / block) * block;
    if (type === "x") {
      pending = { ...pending, ...parsePax(data) };
      continue;
    }
    if (type === "L") {
      pending = { ...pending, path: data.toString("utf8").replace(/\0+$/, "") };
      continue;
    }
    if (type === "g") continue;
    const name = pending.path ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    pending = {};
    yield { name, type: type === "\0" || type === "7" ? "0" : type, size, data };
  }
}

/** Gunzips within a limit, with errors that say which limit. */
export function gunzipLimited(tgz: Buffer, max: number, what: string): Buffer {
  try {
    return zlib.gunzipSync(tgz, { maxOutputLength: max });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || /Cannot create a Buffer larger|maxOutputLength/.test((err as Error).message)) {
      throw new ChartArchiveError(`${what} decompresses to more than ${max} bytes`);
    }
    throw new ChartArchiveError(`${what} is not gzip: ${(err as Error).message}`);
  }
}

/** Reads a chart .tgz into memory within the limits. */
export function readChartArchive(tgz: Buffer, limits: ChartArchiveLimits = defaultChartArchiveLimits): ChartFiles {
  const tar = gunzipLimited(tgz, limits.maxDecompressed, "chart archive");
  const files = new Map<string, Buffer>();
  let root: string | undefined;
  for (const e of tarEntries(tar)) {
    if (e.type !== "0") continue; // directories, links, devices: not chart content
    const { root: top, rel } = chartRelativePath(e.name);
    if (!rel) continue;
    if (e.size > limits.maxFile) throw new ChartArchiveError(`chart file '${rel}' is ${e.size} bytes, over the limit of ${limits.maxFile} bytes (--helm-chart-file-max-size)`);
    root ??= top;
    files.set(rel, Buffer.from(e.data));
  }
  if (!root) throw new ChartArchiveError("chart archive holds no files");
  if (!files.has("Chart.yaml")) throw new ChartArchiveError("Chart.yaml file is missing");
  return { root, files };
}

/** Writes the files under "<root>/" as a deterministic .tgz. */
export function writeChartArchive(chart: ChartFiles): Buffer {
  const parts: Buffer[] = [];
  for (const rel of [...chart.files.keys()].sort()) {
    const data = chart.files.get(rel)!;
    const name = path.posix.join(chart.root, rel);
    if (Buffer.byteLength(name) > 99) {
      const record = (() => {
        const body = ` path=${name}\n`;
        const b = Buffer.byteLength(body);
        let n = b + 1;
        while (n !== b + String(n).length) n++;
        return Buffer.from(`${n}${body}`);
      })();
      parts.push(tarHeader("PaxHeader", { mode: 0o644, size: record.length, typeflag: "x" }), record, Buffer.alloc((block - (record.length % block)) % block));
    }
    parts.push(tarHeader(name.slice(0, 99), { mode: 0o644, size: data.length, typeflag: "0" }), data, Buffer.alloc((block - (data.length % block)) % block));
  }
  parts.push(Buffer.alloc(block * 2));
  return zlib.gzipSync(Buffer.concat(parts));
}

export interface ChartMetadata {
  name: string;
  version: string;
  [field: string]: unknown;
}

export function chartMetadata(chart: ChartFiles): ChartMetadata {
  let meta: unknown;
  try {
    meta = parseYaml(chart.files.get("Chart.yaml")!.toString("utf8"));
  } catch (err) {
    throw new ChartArchiveError(`Chart.yaml is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const m = meta as Partial<ChartMetadata> | null;
  if (!m || typeof m !== "object") throw new ChartArchiveError("Chart.yaml is not a mapping");
  if (typeof m.name !== "string" || !m.name) throw new ChartArchiveError("validation: chart.metadata.name is required");
  if (m.version === undefined || m.version === null || String(m.version) === "") throw new ChartArchiveError("validation: chart.metadata.version is required");
  return { ...m, name: m.name, version: String(m.version) };
}

/** Chart.yaml with another version, comments and the other fields kept. */
export function withChartVersion(chart: ChartFiles, version: string): ChartFiles {
  const doc = parseDocument(chart.files.get("Chart.yaml")!.toString("utf8"));
  doc.set("version", version);
  const files = new Map(chart.files);
  files.set("Chart.yaml", Buffer.from(doc.toString()));
  return { root: chart.root, files };
}

type Values = Record<string, unknown>;
const isMap = (v: unknown): v is Values => !!v && typeof v === "object" && !Array.isArray(v);

/** Deep merge: maps merge key by key, anything else in `over` replaces what `base` had. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isMap(v) && isMap(out[k]) ? mergeValues(out[k] as Values, v) : v;
  return out;
}

export interface MergedValues {
  values: Values;
  /** The files that were merged, in order (missing ones left out when ignored). */
  merged: string[];
}

/**
 * Merges the listed values files of the chart, in order, as Flux does: the chart's values.yaml only when listed;
 * a missing file is an error unless ignoreMissing.
 */
export function mergeValuesFiles(chart: ChartFiles, paths: readonly string[], ignoreMissing: boolean): MergedValues {
  let values: Values = {};
  const merged: string[] = [];
  for (const p of paths) {
    const clean = path.posix.normalize(p.replace(/^\.\//, ""));
    const data = chart.files.get(clean);
    if (!data) {
      if (ignoreMissing) continue;
      throw new ChartArchiveError(`no values file found at path '${p}'`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(data.toString("utf8")) ?? {};
    } catch (err) {
      throw new ChartArchiveError(`unmarshaling values from '${p}' failed: ${(err as Error).message.split("\n")[0]}`);
    }
    if (!isMap(parsed)) throw new ChartArchiveError(`unmarshaling values from '${p}' failed: not a mapping`);
    values = mergeValues(values, parsed);
    merged.push(p);
  }
  return { values, merged };
}

/** The chart with values.yaml replaced by the given values. */
export function withValues(chart: ChartFiles, values: Values): ChartFiles {
  const files = new Map(chart.files);
  files.set("values.yaml", Buffer.from(Object.keys(values).length ? stringify(values) : "{}\n"));
  return { root: chart.root, files };
}
