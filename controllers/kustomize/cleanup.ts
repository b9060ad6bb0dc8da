// Field ownership cleanup, as Flux does before applying: fields set by kubectl (edit, patch, label,
// client-side apply, …) or by an Update from before the first apply are handed to the controller's Apply
// entry, so the next apply removes what git does not have. Objects annotated ssa: Merge keep them.

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
}

export const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

/** True for the managers whose fields are taken over. */
export function isTakenOver(e: ManagedFieldsEntry, fieldManager: string): boolean {
  if (e.subresource) return false;
  const m = e.manager ?? "";
  if (m.startsWith("kubectl") && (e.operation === "Update" || e.operation === "Apply")) return true;
  if (m === "before-first-apply" && e.operation === "Update") return true;
  return m === fieldManager && e.operation === "Update";
}

/** Union of two FieldsV1 sets (nested maps). */
export function mergeFields(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = cur && typeof cur === "object" && v && typeof v === "object" ? mergeFields(cur as Record<string, unknown>, v as Record<string, unknown>) : (cur ?? v);
  }
  return out;
}

/**
 * The managedFields after handing the taken-over entries to fieldManager's Apply entry, or undefined when
 * nothing needs to change.
 */
export function cleanedManagedFields(entries: ManagedFieldsEntry[] | undefined, fieldManager: string, apiVersion: string, now = new Date()): ManagedFieldsEntry[] | undefined {
  const list = entries ?? [];
  const taken = list.filter((e) => isTakenOver(e, fieldManager));
  if (!taken.length) return undefined;
  let fields: Record<string, unknown> = {};
  for (const e of taken) fields = mergeFields(fields, e.fieldsV1 ?? {});
  const rest = list.filter((e) => !isTakenOver(e, fieldManager));
  const own = rest.find((e) => e.manager === fieldManager && e.operation === "Apply" && !e.subresource);
  if (own) {
    own.fieldsV1 = mergeFields(own.fieldsV1 ?? {}, fields);
    return rest;
  }
  return [...rest, { manager: fieldManager, operation: "Apply", apiVersion, time: now.toISOString().replace(/\.\d{3}Z$/, "Z"), fieldsType: "FieldsV1", fieldsV1: fields }];
}
