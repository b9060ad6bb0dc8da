// A client-side token bucket (as client-go's QPS/burst): at most `burst` requests at once, refilled at `qps`
// tokens per second. Waiters are served in order.

export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly qps: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(qps > 0)) throw new Error(`kube API QPS must be a positive number, got ${qps}`);
    if (!(burst >= 1)) throw new Error(`kube API burst must be at least 1, got ${burst}`);
    this.tokens = burst;
    this.last = now();
  }

  /** Resolves when a token is available (and takes it); rejects with the signal's reason on abort. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.wait(signal));
    // The next waiter starts after this one, whether it got a token or gave up.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Milliseconds until a token is free (0 when one is free now). */
  delay(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.qps) * 1000;
  }

  private async wait(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const ms = this.delay();
      if (ms === 0) {
        this.tokens -= 1;
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        }, Math.ceil(ms));
        const onAbort = () => {
          clearTimeout(t);
          reject(signal!.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }
}
