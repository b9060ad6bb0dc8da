// spec.dependsOn of a HelmRelease: HelmReleases as in Flux, and (Mooring) Kustomizations, named by kind. A
// dependency is ready when its Ready condition is True for its current generation, or when its readyExpr
// (CEL, the dependency as `dep`, the HelmRelease as `self`) says so.
import { ReconcileError } from "../runtime/errors";
import type { Condition } from "../runtime/conditions";
import { DependencyNotReadyReason } from "../api/kustomize";
import { CelError, evalReadyExpr } from "../kustomize/cel";
import { type HelmDependencyReference, type HelmRelease } from "../api/helm";

export interface DependencyObject {
  metadata: { name: string; namespace?: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

export type DependencyLookup = (kind: "HelmRelease" | "Kustomization", key: string) => DependencyObject | undefined;

/** The kind a dependency names: HelmRelease unless kind (or a kustomize apiVersion) says Kustomization. */
export function dependencyKind(ref: HelmDependencyReference): "HelmRelease" | "Kustomization" {
  if (ref.kind) return ref.kind;
  return ref.apiVersion?.startsWith("kustomize.toolkit.fluxcd.io/") ? "Kustomization" : "HelmRelease";
}

export const dependencyKey = (hr: HelmRelease, ref: HelmDependencyReference): string => `${ref.namespace || hr.metadata.namespace}/${ref.name}`;

/** A message naming the first dependency that is not ready, or undefined when all are. */
export function dependenciesNotReady(hr: HelmRelease, lookup: DependencyLookup): string | undefined {
  for (const ref of hr.spec.dependsOn ?? []) {
    const kind = dependencyKind(ref);
    const key = dependencyKey(hr, ref);
    const subject = kind === "HelmRelease" ? `'${key}'` : `${kind} '${key}'`;
    const dep = lookup(kind, key);
    if (!dep) return `dependency ${subject} not found`;
    if (ref.readyExpr) {
      let ready: boolean;
      try {
        ready = evalReadyExpr(ref.readyExpr, dep, hr);
      } catch (err) {
        if (err instanceof CelError && err.invalid) throw new ReconcileError(DependencyNotReadyReason, `dependency ${subject}: ${err.message}`, { stalled: true, cause: err });
        return `dependency ${subject} is not ready: ${(err as Error).message}`;
      }
      if (!ready) return `dependency ${subject} is not ready according to readyExpr eval`;
      continue;
    }
    const ready = dep.status?.conditions?.find((c) => c.type === "Ready");
    const generation = dep.metadata.generation;
    if (!ready || ready.status !== "True" || dep.status?.observedGeneration !== generation || (ready.observedGeneration !== undefined && ready.observedGeneration !== generation)) {
      return `dependency ${subject} is not ready`;
    }
  }
  return undefined;
}
