// status.history (Flux 2.7): the last reconciliations, most recent first, one entry per digest of the applied
// manifests and final status; a repeat of the same digest and status updates its entry and counts it.
import { createHash } from "node:crypto";
import type { Snapshot } from "../api/kustomize";
import type { Manifest } from "./inventory";

/** How many entries status.history keeps. */
export const historyMaxSize = 5;

/** The outcome of one reconcile that got as far as a build. */
export interface ReconcileOutcome {
  /** Digest of the built manifests (see manifestsDigest). */
  digest: string;
  /** When the reconcile ended. */
  at: Date;
  /** How long the reconcile took, in milliseconds. */
  durationMs: number;
  /** The reason it ended with: ReconciliationSucceeded, ReconciliationFailed, PruneFailed, HealthCheckFailed, … */
  status: string;
  /** The source revision reconciled. */
  revision: string;
  /** The origin revision of the source, when it has one. */
  originRevision?: string;
}

/** "sha256:<hex>" of the manifests as built, in build order: the same manifests give the same digest. */
export function manifestsDigest(manifests: readonly Manifest[]): string {
  const h = createHash("sha256");
  for (const m of manifests) {
    h.update(canonicalJson(m));
    h.update("\n");
  }
  return `sha256:${h.digest("hex")}`;
}

/** JSON with object keys sorted, so that key order in the source does not change the digest. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * The history after a reconcile: the entry with the same digest and status is updated (last time, duration,
 * count, metadata) and moved to the front; otherwise a new entry goes in front. At most historyMaxSize entries
 * are kept, the oldest dropped. The given history is not changed.
 */
export function recordHistory(history: readonly Snapshot[] | undefined, o: ReconcileOutcome): Snapshot[] {
  const at = formatTime(o.at);
  const metadata: Record<string, string> = { revision: o.revision };
  if (o.originRevision) metadata.originRevision = o.originRevision;
  const duration = formatDuration(o.durationMs);
  const entries = [...(history ?? [])];
  const i = entries.findIndex((e) => e.digest === o.digest && e.lastReconciledStatus === o.status);
  let entry: Snapshot;
  if (i >= 0) {
    const old = entries.splice(i, 1)[0]!;
    entry = { ...old, lastReconciled: at, lastReconciledDuration: duration, totalReconciliations: (old.totalReconciliations ?? 0) + 1, metadata };
  } else {
    entry = { digest: o.digest, firstReconciled: at, lastReconciled: at, lastReconciledDuration: duration, lastReconciledStatus: o.status, totalReconciliations: 1, metadata };
  }
  return [entry, ...entries].slice(0, historyMaxSize);
}

/** RFC 3339 in UTC with whole seconds, as Kubernetes writes times. */
const formatTime = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, "Z");

/** A duration in Go's notation (as metav1.Duration is written): "0s", "250ms", "2.818s", "1m30s", "1h2m3.5s". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  if (total === 0) return "0s";
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = (total % 60_000) / 1000;
  const secs = `${s.toFixed(3).replace(/\.?0+$/, "")}s`;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${secs}`;
}
