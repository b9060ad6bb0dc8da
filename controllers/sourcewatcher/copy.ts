// The copy rules of an ArtifactGenerator, applied to unpacked source trees to stage one artifact, with cp's
// semantics as Flux documents them: a file to a path or into a directory ("dest/"), a directory as a
// subdirectory ("@src/dir/" → dest/dir/, "@src/" → dest/), a glob's matches under their literal prefix
// ("@src/dir/**" → dest/<path under dir>, "@src/configs/*.yaml" → dest/<file>); exclude globs; strategies
// Overwrite, Merge (YAML, arrays replaced) and Extract (.tar.gz/.tgz). Nothing is read outside a source tree
// or written outside the staging directory, links are never followed or copied, and the staged content is
// bounded in bytes and files.
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import type { CopyOperation } from "../api/source-extensions";
import { extractLayer } from "../source/ocirepository";

/** A copy rule that cannot be applied: bad input in the spec or in the sources. The message names the rule. */
export class CopyError extends Error {
  override name = "CopyError";
}

export interface CopyLimits {
  /** Total bytes staged (copied, merged and extracted). */
  maxBytes: number;
  /** Files staged. */
  maxFiles: number;
}

export const defaultCopyLimits: CopyLimits = { maxBytes: 512 << 20, maxFiles: 100_000 };

const tarballSuffixes = [".tar.gz", ".tgz"];
const isTarball = (p: string): boolean => tarballSuffixes.some((s) => p.toLowerCase().endsWith(s));
export const hasGlob = (p: string): boolean => /[*?[\]]/.test(p);

/** "@alias/pattern" → its parts; the pattern is "" for the source root. */
export function parseFrom(from: string): { alias: string; pattern: string } {
  const m = /^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)\/(.*)$/.exec(from);
  if (!m) throw new CopyError(`invalid copy source '${from}': want '@<alias>/<path or glob>'`);
  const pattern = m[3]!;
  checkRelative(pattern, `copy source '${from}'`);
  return { alias: m[1]!, pattern };
}

/** "@artifact/path" → the relative path in the artifact ("" for its root) and whether it names a directory. */
export function parseTo(to: string): { rel: string; dir: boolean } {
  const m = /^@artifact\/(.*)$/.exec(to);
  if (!m) throw new CopyError(`invalid copy destination '${to}': want '@artifact/<path>'`);
  const raw = m[1]!;
  checkRelative(raw, `copy destination '${to}'`);
  return { rel: normalise(raw), dir: raw === "" || raw.endsWith("/") };
}

function checkRelative(p: string, what: string): void {
  if (p.includes("\0") || p.includes("\\")) throw new CopyError(`${what} holds a character not allowed in a path`);
  if (p.startsWith("/")) throw new CopyError(`${what} must be relative, not an absolute path`);
  if (p.split("/").includes("..")) throw new CopyError(`${what} must not contain '..': paths stay inside the ${what.startsWith("copy source") ? "source" : "artifact"}`);
}

const normalise = (p: string): string => p.split("/").filter((x) => x !== "" && x !== ".").join("/");
const join = (...parts: string[]): string => normalise(parts.filter((x) => x !== "").join("/"));

/** A glob as a regular expression over "/"-separated paths: '*', '?' and '[…]' within a name, '**' across directories. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const atStart = i === 0 || glob[i - 1] === "/";
        if (atStart && glob[i + 2] === "/") {
          re += "(?:[^/]+/)*";
          i += 2;
        } else {
          re += ".*";
          i++;
        }
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) throw new CopyError(`invalid glob pattern '${glob}': '[' without a closing ']'`);
      let cls = glob.slice(i + 1, end);
      if (cls.startsWith("!")) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  try {
    return new RegExp(`^${re}$`);
  } catch (err) {
    throw new CopyError(`invalid glob pattern '${glob}': ${(err as Error).message}`);
  }
}

/** The literal directory a glob starts in (the segments before the first one with a glob character). */
export function literalPrefix(pattern: string): string {
  const out: string[] = [];
  for (const seg of normalise(pattern).split("/")) {
    if (hasGlob(seg)) break;
    out.push(seg);
  }
  return out.join("/");
}

class Excludes {
  private readonly rules: { re: RegExp; nameOnly: boolean }[];
  constructor(
    patterns: readonly string[],
    private readonly base: string,
  ) {
    this.rules = patterns.map((p) => ({ re: globToRegExp(p), nameOnly: !p.includes("/") }));
  }

  /** Matched against the path in the source, the path under the rule's base, and (for patterns without '/') the name. */
  excludes(rel: string): boolean {
    if (!this.rules.length) return false;
    const underBase = this.base && rel.startsWith(`${this.base}/`) ? rel.slice(this.base.length + 1) : undefined;
    const name = path.posix.basename(rel);
    return this.rules.some((r) => r.re.test(rel) || (underBase !== undefined && r.re.test(underBase)) || (r.nameOnly && r.re.test(name)));
  }
}

/** Applies copy rules in order; later rules overwrite (or merge into) what earlier ones staged. */
export class ArtifactStager {
  private bytes = 0;
  private files = 0;

  constructor(
    /** Unpacked source trees by alias. */
    private readonly sources: ReadonlyMap<string, string>,
    /** The empty directory the artifact is staged in. */
    private readonly staging: string,
    private readonly limits: CopyLimits = defaultCopyLimits,
  ) {}

  async applyAll(rules: readonly CopyOperation[], signal?: AbortSignal): Promise<void> {
    for (const rule of rules) {
      signal?.throwIfAborted();
      try {
        await this.apply(rule);
      } catch (err) {
        if (err instanceof CopyError) throw new CopyError(`copy from '${rule.from}' to '${rule.to}': ${err.message}`);
        throw err;
      }
    }
  }

  private async apply(rule: CopyOperation): Promise<void> {
    const { alias, pattern } = parseFrom(rule.from);
    const dest = parseTo(rule.to);
    const root = this.sources.get(alias);
    if (root === undefined) throw new CopyError(`source alias '${alias}' is not in spec.sources`);
    const strategy = rule.strategy ?? "Overwrite";
    if (!hasGlob(pattern)) return this.applyPath(root, normalise(pattern), dest, strategy, new Excludes(rule.exclude ?? [], normalise(pattern)));
    const base = literalPrefix(pattern);
    const excludes = new Excludes(rule.exclude ?? [], base);
    const re = globToRegExp(normalise(pattern));
    const matches: { rel: string; dir: boolean }[] = [];
    await this.walk(root, base, (rel, dir) => {
      if (!re.test(rel)) return false;
      matches.push({ rel, dir });
      return true;
    });
    if (!matches.length) throw new CopyError(`no files match pattern '${pattern}' in source '${alias}'`);
    const kept = matches.filter((m) => !excludes.excludes(m.rel));
    if (!kept.length) throw new CopyError(`all files matching pattern '${pattern}' in source '${alias}' were excluded`);
    if (strategy === "Extract") {
      const tarballs = kept.filter((m) => !m.dir && isTarball(m.rel));
      if (!tarballs.length) throw new CopyError(`strategy Extract: no tarball (.tar.gz, .tgz) matches pattern '${pattern}' in source '${alias}'`);
      for (const m of tarballs) await this.extract(root, m.rel, dest.rel);
      return;
    }
    for (const m of kept) {
      const target = join(dest.rel, base ? m.rel.slice(base.length + 1) : m.rel);
      if (m.dir) await this.copyDir(root, m.rel, target, excludes);
      else await this.copyFile(root, m.rel, target, strategy === "Merge");
    }
  }

  /** A path without glob characters: a file or a directory, as cp treats them. */
  private async applyPath(root: string, rel: string, dest: { rel: string; dir: boolean }, strategy: string, excludes: Excludes): Promise<void> {
    const st = await this.statInside(root, rel);
    if (!st) throw new CopyError(`'${rel || "."}' does not exist in the source`);
    if (st.isDirectory()) {
      if (strategy === "Extract") throw new CopyError(`strategy Extract takes tarball files (.tar.gz, .tgz), not the directory '${rel || "."}'`);
      return this.copyDir(root, rel, join(dest.rel, rel ? path.posix.basename(rel) : ""), excludes);
    }
    if (excludes.excludes(rel)) return;
    if (strategy === "Extract") {
      if (!isTarball(rel)) throw new CopyError(`strategy Extract takes tarball files (.tar.gz, .tgz), not '${rel}'`);
      return this.extract(root, rel, dest.rel);
    }
    const intoDir = dest.dir || (await this.stagedIsDir(dest.rel));
    await this.copyFile(root, rel, intoDir ? join(dest.rel, path.posix.basename(rel)) : dest.rel, strategy === "Merge");
  }

  /**
   * Visits the tree under `start` in name order (lstat: links are neither followed nor visited); `visit`
   * returns true to stop descending into a directory it took.
   */
  private async walk(root: string, start: string, visit: (rel: string, dir: boolean) => boolean): Promise<void> {
    const st = await this.statInside(root, start);
    if (!st?.isDirectory()) return;
    const recurse = async (dirRel: string): Promise<void> => {
      const entries = await fs.promises.readdir(path.join(root, dirRel), { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        const rel = dirRel ? `${dirRel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (!visit(rel, true)) await recurse(rel);
        } else if (e.isFile()) visit(rel, false);
      }
    };
    await recurse(start);
  }

  /** lstat of a path in a source that stays inside it after links are resolved; undefined when missing. */
  private async statInside(root: string, rel: string): Promise<fs.Stats | undefined> {
    const full = path.join(root, rel);
    let real: string;
    try {
      real = await fs.promises.realpath(full);
    } catch {
      return undefined;
    }
    const realRoot = await fs.promises.realpath(root);
    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) throw new CopyError(`'${rel}' resolves outside the source through a link`);
    const st = await fs.promises.lstat(full);
    if (st.isSymbolicLink()) throw new CopyError(`'${rel}' is a link; links are not copied`);
    return st;
  }

  private async stagedIsDir(rel: string): Promise<boolean> {
    return (await fs.promises.stat(path.join(this.staging, rel)).catch(() => undefined))?.isDirectory() === true;
  }

  private async copyDir(root: string, srcRel: string, destRel: string, excludes: Excludes): Promise<void> {
    await fs.promises.mkdir(this.target(destRel), { recursive: true });
    const prefix = srcRel ? `${srcRel}/` : "";
    const files: string[] = [];
    await this.walk(root, srcRel, (rel, dir) => {
      if (excludes.excludes(rel)) return true;
      if (!dir) files.push(rel);
      return false;
    });
    for (const rel of files) await this.copyFile(root, rel, join(destRel, rel.slice(prefix.length)), false);
  }

  private target(rel: string): string {
    // parseTo and the walks only produce normalised relative paths; this is the last line of defence.
    const full = path.resolve(this.staging, rel);
    if (full !== this.staging && !full.startsWith(this.staging + path.sep)) throw new CopyError(`'${rel}' is outside the artifact`);
    return full;
  }

  private account(bytes: number, files: number): void {
    this.bytes += bytes;
    this.files += files;
    if (this.bytes > this.limits.maxBytes) throw new CopyError(`the artifact exceeds the limit of ${this.limits.maxBytes} bytes`);
    if (this.files > this.limits.maxFiles) throw new CopyError(`the artifact exceeds the limit of ${this.limits.maxFiles} files`);
  }

  private async copyFile(root: string, srcRel: string, destRel: string, merge: boolean): Promise<void> {
    if (destRel === "") throw new CopyError(`'${srcRel}' would replace the artifact's root directory; name a file or end the destination with '/'`);
    const src = path.join(root, srcRel);
    const dest = this.target(destRel);
    const existing = await fs.promises.lstat(dest).catch(() => undefined);
    if (existing?.isDirectory()) throw new CopyError(`cannot copy file '${srcRel}' over the directory '${destRel}'`);
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    if (merge && existing) {
      const merged = mergeYamlFiles(await fs.promises.readFile(dest, "utf8"), await fs.promises.readFile(src, "utf8"), destRel, srcRel);
      this.account(Buffer.byteLength(merged) - existing.size, 0);
      await fs.promises.writeFile(dest, merged);
      return;
    }
    const st = await fs.promises.stat(src);
    this.account(st.size - (existing?.size ?? 0), existing ? 0 : 1);
    await fs.promises.copyFile(src, dest);
    await fs.promises.chmod(dest, st.mode & 0o111 ? 0o755 : 0o644);
  }

  private async extract(root: string, srcRel: string, destRel: string): Promise<void> {
    const blob = await fs.promises.readFile(path.join(root, srcRel));
    if (blob.length < 2 || blob[0] !== 0x1f || blob[1] !== 0x8b) throw new CopyError(`'${srcRel}' is not a gzip-compressed tarball`);
    const dir = this.target(destRel);
    await fs.promises.mkdir(dir, { recursive: true });
    const before = await treeSize(this.staging);
    try {
      await extractLayer(blob, dir, this.limits.maxBytes - this.bytes);
    } catch (err) {
      throw new CopyError(`cannot extract '${srcRel}': ${(err as Error).message}`);
    }
    const after = await treeSize(this.staging);
    this.account(after.bytes - before.bytes, after.files - before.files);
  }
}

async function treeSize(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += (await fs.promises.stat(path.join(e.parentPath, e.name))).size;
  }
  return { bytes, files };
}

type YamlMap = Record<string, unknown>;
const isMap = (v: unknown): v is YamlMap => typeof v === "object" && v !== null && !Array.isArray(v);

/** Deep merge of maps; anything else (arrays included) in the overlay replaces the base's value, as Helm's --values. */
export function mergeMaps(base: YamlMap, overlay: YamlMap): YamlMap {
  const out: YamlMap = { ...base };
  for (const [k, v] of Object.entries(overlay)) out[k] = isMap(v) && isMap(out[k]) ? mergeMaps(out[k], v) : v;
  return out;
}

function loadYamlMap(text: string, file: string): YamlMap {
  let out: YamlMap = {};
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length) throw new CopyError(`strategy Merge: '${file}' is not valid YAML: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isMap(value)) throw new CopyError(`strategy Merge: '${file}' must hold YAML maps, not ${Array.isArray(value) ? "a list" : typeof value}`);
    out = mergeMaps(out, value);
  }
  return out;
}

/** The YAML of `overlayText` merged into `baseText` (each file's documents merged into one map first). */
export function mergeYamlFiles(baseText: string, overlayText: string, baseName: string, overlayName: string): string {
  return YAML.stringify(mergeMaps(loadYamlMap(baseText, baseName), loadYamlMap(overlayText, overlayName)));
}
