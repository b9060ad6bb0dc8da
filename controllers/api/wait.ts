// Waiting, in one place: an abortable sleep, polling until a deadline, and capped exponential backoff. Used by
// the controllers, the bootstrap library and the Pulumi provider alike (it imports nothing).

/** Resolves after ms, or at once when the signal aborts (callers check the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface BackoffPolicy {
  /** The first delay. */
  baseMs: number;
  /** The cap. */
  maxMs: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** "equal": a random delay in [d/2, d], so many retriers spread out; "none" (default): exactly d. */
  jitter?: "none" | "equal";
}

/** The delay before retry number `attempt` (1-based): base · factor^(attempt−1), capped. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * (policy.factor ?? 2) ** Math.max(0, attempt - 1));
  return policy.jitter === "equal" ? Math.round(exp / 2 + random() * (exp / 2)) : exp;
}

export interface PollOptions {
  /** Time between checks. */
  intervalMs: number;
  /** Give up after this long (measured from the call) ... */
  timeoutMs?: number;
  /** ... or at this epoch time in ms. */
  deadline?: number;
  signal?: AbortSignal;
  /** The error thrown when time is up; say what was awaited and what was last seen. */
  timeoutError: () => Error;
}

/**
 * Calls check until it returns something other than undefined or false, and resolves with that. Throws
 * timeoutError() when the deadline passes, or the signal's reason when it aborts.
 */
export async function poll<T>(check: () => Promise<T | undefined | false> | T | undefined | false, o: PollOptions): Promise<T> {
  const until = o.deadline ?? (o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs);
  for (;;) {
    o.signal?.throwIfAborted();
    const result = await check();
    if (result !== undefined && result !== false) return result;
    if (Date.now() >= until) throw o.timeoutError();
    await sleep(Math.max(0, Math.min(o.intervalMs, until - Date.now())), o.signal);
  }
}

/**
 * Resolves when the sender calls one of the `idle` callbacks (its queue is empty), or after timeoutMs, when
 * onTimeout runs first (e.g. to drop and report what is still queued).
 */
export function untilIdle(idle: (() => void)[], timeoutMs: number, onTimeout: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, timeoutMs);
    idle.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
