// The work queue: a key is never handed to two workers at once, duplicate adds collapse, delayed adds
// (requeueAfter, backoff) keep only the earliest deadline, and failures back off exponentially per key.

import { backoffDelay, type BackoffPolicy } from "../api/wait";

export type { BackoffPolicy } from "../api/wait";

export const defaultBackoff: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000 };

/** Per-key exponential backoff: base * 2^(failures-1), capped. */
export class Backoff {
  private readonly failures = new Map<string, number>();
  constructor(private readonly policy: BackoffPolicy = defaultBackoff) {}

  next(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    return backoffDelay(n, this.policy);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

/** Adds up to `fraction` of random extra time so many objects with the same interval spread out. */
export function withJitter(ms: number, fraction = 0.05, random: () => number = Math.random): number {
  return Math.round(ms + ms * fraction * random());
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: { cancel(): void } }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(private readonly clock: Clock = realClock) {}

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    const d = this.delayed.get(key);
    if (d) {
      d.timer.cancel();
      this.delayed.delete(key);
    }
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    // A key being processed is re-queued when done() is called.
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds the key after ms; an earlier pending deadline wins, an immediate add cancels it. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Resolves with the next key, or undefined once shut down. The caller must call done(key). */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  pendingDelay(key: string): number | undefined {
    const d = this.delayed.get(key);
    return d ? d.at - this.clock.now() : undefined;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const d of this.delayed.values()) d.timer.cancel();
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(this.take(key));
    else this.queue.push(key);
  }
}
