// Small statistics for benchmark samples.

/** The p-th percentile (0..100) of values, nearest-rank; undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface LatencySummary {
  samples: number;
  /** Samples that were not observed before their deadline (not part of the statistics). */
  timedOut: number;
  medianSeconds?: number;
  p95Seconds?: number;
  maxSeconds?: number;
  /** Every observed sample in seconds, in measurement order. */
  seconds: number[];
}

export function summarize(seconds: readonly number[], timedOut = 0): LatencySummary {
  const round = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 1000) / 1000);
  return {
    samples: seconds.length + timedOut,
    timedOut,
    medianSeconds: round(median(seconds)),
    p95Seconds: round(percentile(seconds, 95)),
    maxSeconds: round(seconds.length ? Math.max(...seconds) : undefined),
    seconds: seconds.map((s) => round(s)!),
  };
}
