// Choosing the latest tag, as Flux's ImagePolicy does: filterTags keeps the tags matching a pattern and maps
// each to the value that is ordered (the extract template over the pattern's groups), then semver (the highest
// version in the range), alphabetical or numerical (asc picks the last, desc the first) chooses one.
import { compareHelmVersions, ConstraintError, parseHelmConstraint, parseHelmVersion, satisfies } from "../source/helmsemver";
import type { ImagePolicySpec } from "../api/image";

export class PolicyError extends Error {}

/** Go's regexp syntax where it differs from JavaScript's: named groups are written (?P<name>…). */
export function goRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern.replace(/\(\?P</g, "(?<"));
  } catch (err) {
    throw new PolicyError(`invalid regular expression '${pattern}': ${(err as Error).message}`);
  }
}

/** Go's Regexp.Expand: $1, ${1}, $name, ${name} from the match; unknown names expand to "". */
export function expandTemplate(template: string, m: RegExpExecArray): string {
  return template.replace(/\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (_all, whole: string, braced?: string, bare?: string) => {
    if (whole === "$") return "$";
    const name = braced ?? bare!;
    if (/^\d+$/.test(name)) return m[Number(name)] ?? "";
    return m.groups?.[name] ?? "";
  });
}

/** Tags with the value each is ordered by; all tags when there is no filter. */
export function filterTags(tags: readonly string[], filter: ImagePolicySpec["filterTags"]): { tag: string; value: string }[] {
  if (!filter?.pattern) return tags.map((tag) => ({ tag, value: tag }));
  const re = goRegExp(filter.pattern);
  const out: { tag: string; value: string }[] = [];
  for (const tag of tags) {
    const m = re.exec(tag);
    if (!m) continue;
    out.push({ tag, value: filter.extract ? expandTemplate(filter.extract, m) : tag });
  }
  return out;
}

/** Checks the policy itself (one choice, a parsable range); throws PolicyError. */
export function validatePolicy(spec: ImagePolicySpec): void {
  const p = spec.policy ?? {};
  const chosen = [p.semver, p.alphabetical, p.numerical].filter((x) => x !== undefined).length;
  if (chosen !== 1) throw new PolicyError(`spec.policy must set exactly one of semver, alphabetical, numerical (found ${chosen})`);
  if (p.semver) {
    try {
      parseHelmConstraint(p.semver.range);
    } catch (err) {
      throw new PolicyError(`invalid semver range '${p.semver.range}': ${err instanceof ConstraintError ? err.message : String(err)}`);
    }
  }
  if (spec.filterTags?.pattern) goRegExp(spec.filterTags.pattern);
}

/** The latest tag by the policy; undefined when no tag qualifies. */
export function latestTag(spec: ImagePolicySpec, tags: readonly string[]): string | undefined {
  validatePolicy(spec);
  const candidates = filterTags(tags, spec.filterTags);
  const p = spec.policy;
  if (p.semver) {
    const constraint = parseHelmConstraint(p.semver.range);
    let best: { tag: string; v: NonNullable<ReturnType<typeof parseHelmVersion>> } | undefined;
    for (const c of candidates) {
      const v = parseHelmVersion(c.value);
      if (!v || !satisfies(v, constraint)) continue;
      if (!best || compareHelmVersions(v, best.v) > 0) best = { tag: c.tag, v };
    }
    return best?.tag;
  }
  if (p.alphabetical) {
    const desc = p.alphabetical.order === "desc";
    let best: { tag: string; value: string } | undefined;
    for (const c of candidates) if (!best || (desc ? c.value < best.value : c.value > best.value)) best = c;
    return best?.tag;
  }
  const desc = p.numerical!.order === "desc";
  let best: { tag: string; n: number } | undefined;
  for (const c of candidates) {
    const n = Number(c.value);
    if (c.value.trim() === "" || !Number.isFinite(n)) throw new PolicyError(`numerical policy: tag '${c.tag}' gives '${c.value}', which is not a number (use filterTags to keep only numeric tags)`);
    if (!best || (desc ? n < best.n : n > best.n)) best = { tag: c.tag, n };
  }
  return best?.tag;
}

/** The 10 tags Flux reports in lastScanResult.latestTags: reverse alphabetical order. */
export function latestTags(tags: readonly string[], count = 10): string[] {
  return [...tags].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)).slice(0, count);
}
