// Go-style durations ("1m30s", "500ms", "1h") as used by Flux's interval and timeout fields.
const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a duration; throws an error naming the text when it is not one. */
export function parseDuration(text: string): number {
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  if (!text) throw new Error("empty duration");
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) throw new Error(`invalid duration "${text}" (expected e.g. "30s", "5m", "1h30m", "500ms")`);
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return Math.round(total);
}

/** The duration in milliseconds, or the fallback when the text is empty or not a duration. */
export function durationOr(text: string | undefined, fallbackMs: number): number {
  if (!text) return fallbackMs;
  try {
    return parseDuration(text);
  } catch {
    return fallbackMs;
  }
}
