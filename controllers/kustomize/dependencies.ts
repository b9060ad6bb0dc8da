// spec.dependsOn: whether each dependency is ready, as Flux decides it. Without a readyExpr a dependency is ready
// when its Ready condition is True for its current generation and, when both use the same source, it applied
// that source's latest revision. With a readyExpr, the CEL expression (dependency as `dep`, this Kustomization as
// `self`) decides instead — or as well, with Flux's AdditiveCELDependencyCheck.
import { ReconcileError } from "../runtime/errors";
import { getCondition } from "../runtime/conditions";
import { DependencyNotReadyReason, type DependencyReference, type Kustomization } from "../api/kustomize";
import { CelError, evalReadyExpr } from "./cel";
import { sourceKey } from "./source";

export interface DependencyCheckOptions {
  /** The dependency by "<namespace>/<name>", from the cache. */
  lookup: (key: string) => Kustomization | undefined;
  /** The latest artifact revision of a source ("<Kind>/<namespace>/<name>", as sourceKey gives), if known. */
  sourceRevision?: (sourceKey: string) => string | undefined;
  /** Run the built-in check after a readyExpr as well (Flux's AdditiveCELDependencyCheck feature gate). */
  additiveCelDependencyCheck?: boolean;
}

/**
 * A message naming the first dependency that is not ready, or undefined when all are. An invalid readyExpr is a
 * stalled ReconcileError (DependencyNotReady): retrying cannot help until the spec changes.
 */
export function dependenciesNotReady(self: Kustomization, o: DependencyCheckOptions): string | undefined {
  for (const ref of self.spec.dependsOn ?? []) {
    const why = dependencyNotReady(self, ref, o);
    if (why) return why;
  }
  return undefined;
}

export function dependencyNotReady(self: Kustomization, ref: DependencyReference, o: DependencyCheckOptions): string | undefined {
  const key = `${ref.namespace || self.metadata.namespace}/${ref.name}`;
  const dep = o.lookup(key);
  if (!dep) return `dependency '${key}' not found`;
  if (ref.readyExpr) {
    let ready: boolean;
    try {
      ready = evalReadyExpr(ref.readyExpr, dep, self);
    } catch (err) {
      if (err instanceof CelError && err.invalid) {
        throw new ReconcileError(DependencyNotReadyReason, `dependency '${key}': ${err.message}`, { stalled: true, cause: err });
      }
      return `dependency '${key}' is not ready: ${(err as Error).message}`;
    }
    if (!ready) return `dependency '${key}' is not ready according to readyExpr eval`;
    if (!o.additiveCelDependencyCheck) return undefined;
  }
  const ready = getCondition(dep, "Ready");
  const generation = dep.metadata.generation;
  if (!ready || ready.status !== "True" || dep.status?.observedGeneration !== generation || (ready.observedGeneration !== undefined && ready.observedGeneration !== generation)) {
    return `dependency '${key}' is not ready`;
  }
  if (sourceKey(dep) === sourceKey(self)) {
    const revision = o.sourceRevision?.(sourceKey(dep));
    if (revision && dep.status?.lastAppliedRevision !== revision) return `dependency '${key}' revision is not up to date`;
  }
  return undefined;
}
