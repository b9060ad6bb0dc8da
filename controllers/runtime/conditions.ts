// Condition helpers (metav1.Condition), following Flux's kstatus-compatible shape:
// Ready summarises; Reconciling while work is in progress; Stalled when retrying will not help.

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

import { ProgressingWithRetryReason, ReadyCondition, ReconcilingCondition, StalledCondition } from "../api/meta";

export { FailedReason, ProgressingReason, ProgressingWithRetryReason, ReadyCondition, ReconcilingCondition, StalledCondition, SucceededReason } from "../api/meta";

/** Objects with conditions in their status. */
export interface WithConditions {
  metadata: { generation?: number };
  status?: { conditions?: Condition[]; observedGeneration?: number };
}

const maxMessageLength = 32_768;

export function getCondition(obj: WithConditions, type: string): Condition | undefined {
  return obj.status?.conditions?.find((c) => c.type === type);
}

export function isTrue(obj: WithConditions, type: string): boolean {
  return getCondition(obj, type)?.status === "True";
}

/** Sets a condition; lastTransitionTime moves only when the status changes. */
export function setCondition(obj: WithConditions, type: string, status: ConditionStatus, reason: string, message: string, now: Date = new Date()): void {
  obj.status ??= {};
  const conditions = (obj.status.conditions ??= []);
  const existing = conditions.find((c) => c.type === type);
  const next: Condition = {
    type,
    status,
    observedGeneration: obj.metadata.generation,
    lastTransitionTime: existing && existing.status === status ? existing.lastTransitionTime : rfc3339(now),
    reason,
    message: message.length > maxMessageLength ? message.slice(0, maxMessageLength) : message,
  };
  if (existing) Object.assign(existing, next);
  else conditions.push(next);
}

export const markTrue = (o: WithConditions, type: string, reason: string, message: string): void => setCondition(o, type, "True", reason, message);
export const markFalse = (o: WithConditions, type: string, reason: string, message: string): void => setCondition(o, type, "False", reason, message);
export const markUnknown = (o: WithConditions, type: string, reason: string, message: string): void => setCondition(o, type, "Unknown", reason, message);

export function removeCondition(obj: WithConditions, type: string): void {
  if (!obj.status?.conditions) return;
  obj.status.conditions = obj.status.conditions.filter((c) => c.type !== type);
}

/** Marks the object as being worked on: Reconciling=True, Ready=Unknown (unless already decided). */
export function markReconciling(obj: WithConditions, reason: string, message: string): void {
  markTrue(obj, ReconcilingCondition, reason, message);
  const ready = getCondition(obj, ReadyCondition);
  if (!ready || ready.status !== "False") markUnknown(obj, ReadyCondition, reason, message);
}

/** Marks success: Ready=True, Reconciling/Stalled removed, observedGeneration recorded. */
export function markReady(obj: WithConditions, reason: string, message: string): void {
  markTrue(obj, ReadyCondition, reason, message);
  removeCondition(obj, ReconcilingCondition);
  removeCondition(obj, StalledCondition);
  obj.status!.observedGeneration = obj.metadata.generation;
}

/**
 * Marks failure: Ready=False with the error's reason; Stalled=True when retrying cannot help,
 * otherwise Reconciling=True/ProgressingWithRetry (Flux's convention).
 */
export function markFailed(obj: WithConditions, reason: string, message: string, stalled: boolean): void {
  markFalse(obj, ReadyCondition, reason, message);
  if (stalled) {
    markTrue(obj, StalledCondition, reason, message);
    removeCondition(obj, ReconcilingCondition);
  } else {
    removeCondition(obj, StalledCondition);
    markTrue(obj, ReconcilingCondition, ProgressingWithRetryReason, message);
  }
  obj.status!.observedGeneration = obj.metadata.generation;
}

export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
