// Reconcile errors are values: a condition reason, an actionable message (never a secret), and whether
// retrying can help (Stalled) — mapped to conditions in one place by the reconciler.

export class ReconcileError extends Error {
  constructor(
    /** The Flux condition reason, e.g. "GitOperationFailed". */
    readonly reason: string,
    message: string,
    readonly options: {
      /** The condition type the error belongs to, e.g. "FetchFailed". */
      condition?: string;
      /** True when retrying without a spec change cannot succeed. */
      stalled?: boolean;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ReconcileError";
  }

  get stalled(): boolean {
    return this.options.stalled === true;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
