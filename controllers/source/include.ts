// .spec.include: other GitRepositories' artifacts copied into this one's tree at toPath.
import * as fs from "node:fs";
import * as path from "node:path";
import * as tar from "tar";
import { ReconcileError } from "../runtime/errors";
import { isTrue, ReadyCondition } from "../runtime/conditions";
import { IncludeUnavailableCondition, IncludeUnavailableReason, type Artifact, type GitRepository, type GitRepositoryInclude } from "../api/source";
import type { Storage } from "./storage";

export interface ResolvedInclude {
  include: GitRepositoryInclude;
  artifact: Artifact;
}

/** Finds each included GitRepository's current artifact (from the cache); all must be Ready with an artifact. */
export function resolveIncludes(obj: GitRepository, lookup: (key: string) => GitRepository | undefined): ResolvedInclude[] {
  const out: ResolvedInclude[] = [];
  for (const include of obj.spec.include ?? []) {
    const name = include.repository.name;
    const ns = obj.metadata.namespace!;
    const dep = lookup(`${ns}/${name}`);
    if (!dep) throw new ReconcileError(IncludeUnavailableReason, `could not get include: GitRepository '${ns}/${name}' not found`, { condition: IncludeUnavailableCondition });
    if (!dep.status?.artifact || !isTrue(dep, ReadyCondition))
      throw new ReconcileError(IncludeUnavailableReason, `no artifact available for include GitRepository '${ns}/${name}'`, { condition: IncludeUnavailableCondition });
    out.push({ include, artifact: dep.status.artifact });
  }
  return out;
}

/** Safe relative path inside the tree (no absolute paths, no "..") or an error naming the field. */
function safeRelative(p: string, field: string): string {
  const norm = path.posix.normalize(p.replace(/^\.?\/+/, ""));
  if (norm.startsWith("..") || path.posix.isAbsolute(norm)) throw new ReconcileError(IncludeUnavailableReason, `invalid include ${field} '${p}': must stay inside the repository`, { condition: IncludeUnavailableCondition, stalled: true });
  return norm === "." ? "" : norm;
}

/** Extracts each included artifact and copies fromPath into `tree`/toPath (replacing what was there). */
export async function copyIncludes(includes: ResolvedInclude[], storage: Storage, tree: string, scratch: string): Promise<void> {
  for (const [i, { include, artifact }] of includes.entries()) {
    const extractDir = path.join(scratch, `include-${i}`);
    await fs.promises.mkdir(extractDir, { recursive: true });
    const file = storage.localPath(artifact.path);
    if (!fs.existsSync(file)) throw new ReconcileError(IncludeUnavailableReason, `artifact '${artifact.path}' of include '${include.repository.name}' is not in storage`, { condition: IncludeUnavailableCondition });
    await tar.x({ file, cwd: extractDir, strict: true });
    const from = path.join(extractDir, safeRelative(include.fromPath ?? "", "fromPath"));
    if (!fs.existsSync(from)) throw new ReconcileError(IncludeUnavailableReason, `include '${include.repository.name}': fromPath '${include.fromPath}' not found in revision ${artifact.revision}`, { condition: IncludeUnavailableCondition });
    const to = path.join(tree, safeRelative(include.toPath ?? include.repository.name, "toPath"));
    await fs.promises.rm(to, { recursive: true, force: true });
    await fs.promises.mkdir(path.dirname(to), { recursive: true });
    await fs.promises.cp(from, to, { recursive: true, verbatimSymlinks: true });
  }
}
