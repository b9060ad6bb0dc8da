// The Kustomization's budget for one reconcile (build, apply, health checks), as Flux computes it.

/** The smallest timeout Flux allows: shorter ones (set or defaulted) are raised to it. */
export const minTimeoutMs = 30_000;

/**
 * spec.timeout when set, else spec.interval minus 30 seconds; never under 30 seconds. E.g. interval 10m → 9m30s,
 * interval 1m → 30s, timeout 5s → 30s.
 */
export function kustomizationTimeoutMs(intervalMs: number, timeoutMs?: number): number {
  const ms = timeoutMs ?? intervalMs - 30_000;
  return Math.max(minTimeoutMs, ms);
}
