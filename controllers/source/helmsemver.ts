// Helm's version and constraint syntax (Masterminds semver v3, as Helm and Flux use it), evaluated with npm
// `semver` for precedence. The syntaxes differ, so constraints are parsed here rather than handed to npm:
//   - `||` separates alternatives; within one, comparators are joined by `,` or whitespace (AND);
//   - operators `=`, `!=`, `>`, `<`, `>=` (`=>`), `<=` (`=<`), `~` (`~>`), `^`, or none (= `=`);
//   - a missing or `x`/`X`/`*` part is a wildcard: `1.2` and `1.2.x` mean `>=1.2.0 <1.3.0`, `>1.2` means
//     `>=1.3.0`, `<=1.2` means `<1.3.0`, `*` any release;
//   - `A - B` means `>= A, <= B`;
//   - a prerelease version matches an alternative only if one of its comparators names a prerelease.
import { compare as semverCompare } from "semver";

export interface HelmVersion {
  major: number;
  minor: number;
  patch: number;
  /** Prerelease identifiers ("" for a release). */
  pre: string;
  /** The text it was parsed from. */
  original: string;
}

const versionRe = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

/** Parses a version leniently, as Helm does ("v1.2" is 1.2.0); undefined when it is not one. */
export function parseHelmVersion(text: string): HelmVersion | undefined {
  const m = versionRe.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2] ?? 0), patch: Number(m[3] ?? 0), pre: m[4] ?? "", original: text };
}

const canonical = (v: HelmVersion) => `${v.major}.${v.minor}.${v.patch}${v.pre ? `-${v.pre}` : ""}`;

/** Semver precedence (build metadata ignored): negative, zero or positive. */
export function compareHelmVersions(a: HelmVersion, b: HelmVersion): number {
  return semverCompare(canonical(a), canonical(b), { loose: true });
}

type Op = "=" | "!=" | ">" | "<" | ">=" | "<=" | "~" | "^";

interface Comparator {
  op: Op;
  con: HelmVersion;
  /** Which parts were wildcards: "major" (`*`), "minor" (`1`, `1.x`), "patch" (`1.2`, `1.2.x`), or none. */
  wild?: "major" | "minor" | "patch";
  text: string;
}

export class ConstraintError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConstraintError";
  }
}

const opAliases: Record<string, Op> = { "": "=", "=": "=", "!=": "!=", ">": ">", "<": "<", ">=": ">=", "=>": ">=", "<=": "<=", "=<": "<=", "~": "~", "~>": "~", "^": "^" };
const partRe = "(?:\\d+|[xX*])";
const cvSource = `v?${partRe}(?:\\.${partRe})?(?:\\.${partRe})?(?:-[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?`;
const comparatorRe = new RegExp(`(!=|>=|=>|<=|=<|~>|>|<|=|~|\\^)?\\s*(${cvSource})`, "y");
const rangeRe = new RegExp(`\\s*(${cvSource})\\s+-\\s+(${cvSource})\\s*`, "g");
const isWild = (p: string | undefined) => p === "x" || p === "X" || p === "*";

function parseComparator(opText: string, text: string): Comparator {
  const m = /^v?([^.+-]+)(?:\.([^.+-]+))?(?:\.([^.+-]+))?(-[^+]*)?(?:\+.*)?$/.exec(text)!;
  const [, major, minor, patch, pre = ""] = m;
  let wild: Comparator["wild"];
  let normal: string;
  if (isWild(major)) {
    wild = "major";
    normal = `0.0.0${pre}`;
  } else if (minor === undefined || isWild(minor)) {
    wild = "minor";
    normal = `${major}.0.0${pre}`;
  } else if (patch === undefined || isWild(patch)) {
    wild = "patch";
    normal = `${major}.${minor}.0${pre}`;
  } else {
    normal = `${major}.${minor}.${patch}${pre}`;
  }
  const con = parseHelmVersion(normal);
  if (!con) throw new ConstraintError(`improper constraint: "${opText}${text}"`);
  return { op: opAliases[opText]!, con, wild, text: `${opText}${text}` };
}

/** A parsed constraint: alternatives (OR) of comparator lists (AND). */
export interface HelmConstraint {
  text: string;
  alternatives: { comparators: Comparator[]; allowsPrerelease: boolean }[];
}

export function parseHelmConstraint(text: string): HelmConstraint {
  const rewritten = text.replace(rangeRe, (_all, low: string, high: string) => `>= ${low}, <= ${high} `);
  const alternatives = rewritten.split("||").map((alt) => {
    const comparators: Comparator[] = [];
    const src = alt.trim();
    if (src === "") throw new ConstraintError(`improper constraint: "${alt}" in '${text}'`);
    let at = 0;
    while (at < src.length) {
      if (comparators.length) {
        const sep = /\s*,\s*|\s+/y;
        sep.lastIndex = at;
        if (!sep.exec(src)) throw new ConstraintError(`improper constraint: '${text}' (comparators are joined by ',' or spaces)`);
        at = sep.lastIndex;
      }
      comparatorRe.lastIndex = at;
      const m = comparatorRe.exec(src);
      if (!m) throw new ConstraintError(`improper constraint: '${text}' (cannot read '${src.slice(at)}')`);
      comparators.push(parseComparator(m[1] ?? "", m[2]!));
      at = comparatorRe.lastIndex;
      const ws = /\s*/y;
      ws.lastIndex = at;
      ws.exec(src);
      if (ws.lastIndex === src.length) break;
    }
    return { comparators, allowsPrerelease: comparators.some((c) => c.con.pre !== "") };
  });
  return { text, alternatives };
}

function tilde(v: HelmVersion, c: Comparator): boolean {
  if (compareHelmVersions(v, c.con) < 0) return false;
  if (c.con.major === 0 && c.con.minor === 0 && c.con.patch === 0 && c.wild !== "minor" && c.wild !== "patch") return true;
  if (v.major !== c.con.major) return false;
  return c.wild === "minor" || v.minor === c.con.minor;
}

function caret(v: HelmVersion, c: Comparator): boolean {
  if (compareHelmVersions(v, c.con) < 0) return false;
  if (c.con.major > 0 || c.wild === "minor") return v.major === c.con.major;
  if (v.major > 0) return false;
  if (c.con.minor > 0 || c.wild === "patch") return v.minor === c.con.minor;
  if (v.minor > 0) return false;
  return v.patch === c.con.patch;
}

function notEqual(v: HelmVersion, c: Comparator): boolean {
  if (c.wild) {
    if (v.major !== c.con.major) return true;
    if (c.wild === "minor") return false;
    if (v.minor !== c.con.minor) return true;
    if (c.wild === "patch") return v.pre !== c.con.pre;
  }
  return compareHelmVersions(v, c.con) !== 0;
}

function greaterThan(v: HelmVersion, c: Comparator): boolean {
  if (!c.wild) return compareHelmVersions(v, c.con) > 0;
  if (v.major !== c.con.major) return v.major > c.con.major;
  if (c.wild === "minor") return false;
  if (c.wild === "patch") return v.minor > c.con.minor;
  return compareHelmVersions(v, c.con) > 0;
}

function lessThanOrEqual(v: HelmVersion, c: Comparator): boolean {
  if (!c.wild) return compareHelmVersions(v, c.con) <= 0;
  if (v.major > c.con.major) return false;
  return !(v.major === c.con.major && v.minor > c.con.minor && c.wild !== "minor");
}

function check(v: HelmVersion, c: Comparator): boolean {
  switch (c.op) {
    case "=":
      return c.wild ? tilde(v, c) : compareHelmVersions(v, c.con) === 0;
    case "!=":
      return notEqual(v, c);
    case ">":
      return greaterThan(v, c);
    case "<":
      return compareHelmVersions(v, c.con) < 0;
    case ">=":
      return compareHelmVersions(v, c.con) >= 0;
    case "<=":
      return lessThanOrEqual(v, c);
    case "~":
      return tilde(v, c);
    case "^":
      return caret(v, c);
  }
}

/** Whether `v` satisfies the constraint. */
export function satisfies(v: HelmVersion, constraint: HelmConstraint): boolean {
  return constraint.alternatives.some((alt) => (v.pre === "" || alt.allowsPrerelease) && alt.comparators.every((c) => check(v, c)));
}

/**
 * Picks a chart version as Flux does: an exact string match first; else the highest version satisfying the
 * constraint (`*` or "" for the latest release). Undefined when none does; throws ConstraintError on bad syntax.
 */
export function selectVersion<T extends { version: string }>(candidates: readonly T[], wanted: string | undefined): T | undefined {
  const want = wanted ?? "";
  if (want !== "") {
    const exact = candidates.find((c) => c.version === want);
    if (exact) return exact;
  }
  const constraint = parseHelmConstraint(want === "" ? "*" : want);
  let best: { item: T; v: HelmVersion } | undefined;
  for (const item of candidates) {
    const v = parseHelmVersion(item.version);
    if (!v || !satisfies(v, constraint)) continue;
    if (!best || compareHelmVersions(v, best.v) > 0) best = { item, v };
  }
  return best?.item;
}
