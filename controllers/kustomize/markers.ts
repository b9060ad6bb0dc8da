// The per-object markers Flux honours on applied objects (force, prune, reconcile, ssa). A marker counts when it
// is set as a label or as an annotation, and its value is compared without regard to case ("Disabled" is
// "disabled").
import { ForceAnnotation, PruneAnnotation, ReconcileAnnotation, SSAAnnotation } from "../api/kustomize";

/** The part of an object's metadata that carries markers. */
export interface Marked {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

/** True when the object carries `key: value` as a label or an annotation, the value compared case-insensitively. */
export function hasMarker(obj: Marked | undefined, key: string, value: string): boolean {
  const want = value.toLowerCase();
  const md = obj?.metadata;
  const label = md?.labels?.[key];
  const annotation = md?.annotations?.[key];
  return (label !== undefined && label !== "" && label.toLowerCase() === want) || (annotation !== undefined && annotation !== "" && annotation.toLowerCase() === want);
}

/** `kustomize.toolkit.fluxcd.io/reconcile: disabled`: the object is neither applied nor pruned. */
export const reconcileDisabled = (obj: Marked | undefined): boolean => hasMarker(obj, ReconcileAnnotation, "disabled");

/** `kustomize.toolkit.fluxcd.io/force: enabled`: recreate the object when an immutable field changed. */
export const forceEnabled = (obj: Marked | undefined): boolean => hasMarker(obj, ForceAnnotation, "enabled");

/** `kustomize.toolkit.fluxcd.io/ssa: Ignore`: the object is never applied. */
export const ssaIgnore = (obj: Marked | undefined): boolean => hasMarker(obj, SSAAnnotation, "ignore");

/** `kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`: the object is created when absent, never updated. */
export const ssaIfNotPresent = (obj: Marked | undefined): boolean => hasMarker(obj, SSAAnnotation, "ifnotpresent");

/** `kustomize.toolkit.fluxcd.io/ssa: Merge`: fields of other managers are kept (no ownership cleanup). */
export const ssaMerge = (obj: Marked | undefined): boolean => hasMarker(obj, SSAAnnotation, "merge");

/** Apply skips the object: `reconcile: disabled` or `ssa: Ignore` on the manifest or on the live object. */
export function applyExcluded(desired: Marked | undefined, live: Marked | undefined): boolean {
  return reconcileDisabled(desired) || ssaIgnore(desired) || reconcileDisabled(live) || ssaIgnore(live);
}

/** Prune (and deletion of the Kustomization) leaves the live object alone: `prune: disabled` or `reconcile: disabled`. */
export function pruneExcluded(live: Marked | undefined): boolean {
  return hasMarker(live, PruneAnnotation, "disabled") || reconcileDisabled(live);
}
