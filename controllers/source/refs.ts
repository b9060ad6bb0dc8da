// Choosing what to check out from a GitRepository's .spec.ref and the remote's refs (git ls-remote),
// with Flux's precedence: commit > name > semver > tag > branch (default branch "master").
import * as semver from "semver";
import type { GitRepositoryRef } from "../api/source";

export const defaultBranch = "master";

/** refs as advertised by the remote: full ref name → commit sha (annotated tags peeled). */
export type RemoteRefs = Map<string, string>;

export function parseLsRemote(output: string): RemoteRefs {
  const refs: RemoteRefs = new Map();
  const peeled = new Map<string, string>();
  for (const line of output.split("\n")) {
    const m = /^([0-9a-f]{40,64})\t(\S+)$/.exec(line.trim());
    if (!m) continue;
    const [, sha, name] = m as unknown as [string, string, string];
    if (name.endsWith("^{}")) peeled.set(name.slice(0, -3), sha);
    else refs.set(name, sha);
  }
  for (const [name, sha] of peeled) refs.set(name, sha);
  return refs;
}

/** What to fetch and how to name it. */
export interface Checkout {
  /** Ref to fetch ("refs/heads/main"); undefined when fetching a bare commit. */
  fetchRef?: string;
  /** The commit expected after checkout (undefined when the ref is resolved only by fetching). */
  sha?: string;
  /** Revision prefix: "main", "v1.0.0", "refs/pull/1/head", or "" for a bare commit. */
  name: string;
  /** A commit that must be checked out from fetchRef's history (ref.commit with ref.branch). */
  commit?: string;
}

export class RefError extends Error {}

export function formatRevision(name: string, sha: string): string {
  return name ? `${name}@sha1:${sha}` : `sha1:${sha}`;
}

/** The sha of a revision string ("main@sha1:abc" → "abc"). */
export function revisionSha(revision: string | undefined): string | undefined {
  const m = /(?:^|@)sha1:([0-9a-f]+)$/.exec(revision ?? "");
  return m?.[1];
}

/**
 * Selects the checkout for a ref spec. `refs` is needed for branch, tag, semver and name; a bare commit does
 * not need the remote's refs.
 */
export function selectCheckout(ref: GitRepositoryRef | undefined, refs: RemoteRefs | undefined): Checkout {
  const r = ref ?? {};
  if (r.commit) {
    const commit = r.commit.toLowerCase();
    if (!/^[0-9a-f]{7,64}$/.test(commit)) throw new RefError(`invalid commit '${r.commit}': want a hexadecimal SHA`);
    if (r.branch) {
      const fetchRef = `refs/heads/${r.branch}`;
      if (refs && !refs.has(fetchRef)) throw new RefError(`branch '${r.branch}' not found`);
      return { fetchRef, name: r.branch, commit };
    }
    return { name: "", commit };
  }
  const need = (): RemoteRefs => {
    if (!refs) throw new RefError("remote refs are required");
    return refs;
  };
  if (r.name) {
    const name = r.name;
    if (!name.startsWith("refs/")) throw new RefError(`invalid ref name '${name}': must start with 'refs/'`);
    const sha = need().get(name);
    if (!sha) throw new RefError(`ref '${name}' not found`);
    return { fetchRef: name, sha, name };
  }
  if (r.semver) {
    const tag = pickSemverTag(r.semver, need());
    return { fetchRef: `refs/tags/${tag}`, sha: need().get(`refs/tags/${tag}`)!, name: tag };
  }
  if (r.tag) {
    const sha = need().get(`refs/tags/${r.tag}`);
    if (!sha) throw new RefError(`tag '${r.tag}' not found`);
    return { fetchRef: `refs/tags/${r.tag}`, sha, name: r.tag };
  }
  const branch = r.branch || defaultBranch;
  const sha = need().get(`refs/heads/${branch}`);
  if (!sha) throw new RefError(`branch '${branch}' not found`);
  return { fetchRef: `refs/heads/${branch}`, sha, name: branch };
}

/**
 * Flux constraints use Masterminds/semver syntax: comma means AND, "||" means OR, and a leading "v" on tags is
 * allowed. Returns the highest tag satisfying the range.
 */
export function pickSemverTag(range: string, refs: RemoteRefs): string {
  const normalised = range
    .split("||")
    .map((part) => part.split(",").map((c) => c.trim()).filter(Boolean).join(" "))
    .join(" || ");
  const parsed = semver.validRange(normalised, { loose: true });
  if (!parsed) throw new RefError(`semver range '${range}' is invalid`);
  let best: { tag: string; version: semver.SemVer } | undefined;
  for (const name of refs.keys()) {
    if (!name.startsWith("refs/tags/")) continue;
    const tag = name.slice("refs/tags/".length);
    const version = semver.parse(tag.replace(/^v/, ""), { loose: true });
    if (!version || !semver.satisfies(version, parsed, { loose: true })) continue;
    const better = !best || semver.gt(version, best.version) || (semver.eq(version, best.version) && tag > best.tag);
    if (better) best = { tag, version };
  }
  if (!best) throw new RefError(`no tag matches semver range '${range}'`);
  return best.tag;
}
