// Errors are values: a machine-readable reason plus a message a person can act on.
// Messages never carry secrets; callers scrub URLs before building them (see git/credentials.ts).

export type BootstrapReason =
  | "InvalidInput"
  | "GitCommandFailed"
  | "GitPushRejected"
  | "GitAuthFailed"
  | "RepositoryNotFound"
  | "RepositoryCreateFailed"
  | "DeployKeyFailed"
  | "HostAuthFailed"
  | "HostRequestFailed"
  | "KnownHostsFailed";

export class BootstrapError extends Error {
  override readonly name = "BootstrapError";
  constructor(
    readonly reason: BootstrapReason,
    message: string,
  ) {
    super(message);
  }
}

export function isBootstrapError(err: unknown, reason?: BootstrapReason): err is BootstrapError {
  return err instanceof BootstrapError && (reason === undefined || err.reason === reason);
}
