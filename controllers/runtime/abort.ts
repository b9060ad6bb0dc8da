// Deadlines for requests and reconciles. A deadline aborts when its parent signal aborts or its time is up,
// and is released as soon as the work ends: its timer is cleared and it unhooks from the parent. (A signal
// from AbortSignal.timeout stays alive with its timer for the whole duration, and with it every signal
// composed from it: thousands of short requests with a 30 s timeout kept tens of MiB alive.)
import { setMaxListeners } from "node:events";

export interface Deadline {
  readonly signal: AbortSignal;
  /** Stops the timer and detaches from the parent; the signal stays as it is. Safe to call more than once. */
  release(): void;
}

/** A signal aborted by parent (with its reason) or after ms (with a TimeoutError), whichever comes first. */
export function deadline(parent: AbortSignal | undefined, ms: number | undefined): Deadline {
  const ctl = new AbortController();
  // A reconcile's deadline is the parent of every request it runs at once, each unhooking when it ends: many
  // listeners at a time are expected here, not a leak (Node warns from 11 on).
  setMaxListeners(0, ctl.signal);
  if (parent?.aborted) {
    ctl.abort(parent.reason);
    return { signal: ctl.signal, release: () => {} };
  }
  const onAbort = () => ctl.abort(parent!.reason);
  parent?.addEventListener("abort", onAbort, { once: true });
  const timer = ms === undefined ? undefined : setTimeout(() => ctl.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
  timer?.unref();
  return {
    signal: ctl.signal,
    release: () => {
      if (timer) clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}

/** Runs fn under a deadline and releases it when fn settles. */
export async function withDeadline<T>(parent: AbortSignal | undefined, ms: number | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const d = deadline(parent, ms);
  try {
    return await fn(d.signal);
  } finally {
    d.release();
  }
}
