// `mooring controllers`: runs the controllers in the foreground (what the container image runs too).
import { checkFlags, parseArgs, stringFlag } from "./args";
import { knownControllers, runControllersForeground, type ControllerName } from "../controllers/main";
import { findTool } from "../local/tools";
import { parseDuration } from "../controllers/source/duration";

const flags = [
  "controllers",
  "kubeconfig",
  "storage-path",
  "storage-addr",
  "storage-adv-addr",
  "concurrent",
  "metrics-addr",
  "health-addr",
  "leader-elect",
  "leader-election-namespace",
  "leader-election-lease-duration",
  "leader-election-renew-deadline",
  "leader-election-retry-period",
  "log-level",
  "watch-namespace",
  "watch-label-selector",
  "kustomize-path",
  "no-cross-namespace-refs",
  "no-remote-bases",
  "default-service-account",
  "requeue-dependency",
  "strict-substitutions",
  "drift-watch",
  "cancel-health-check-on-new-revision",
];

/** A boolean flag given as --flag, --flag=true or --flag=false. */
function boolFlag(args: ReturnType<typeof parseArgs>, name: string): boolean | undefined {
  const v = args.flags.get(name);
  if (v === undefined) return undefined;
  if (v === true || v === "true") return true;
  if (v === "false") return false;
  throw new Error(`--${name} must be true or false, got "${v}"`);
}

/** A Go-style duration flag (e.g. "35s") in milliseconds. */
function durationFlag(args: ReturnType<typeof parseArgs>, name: string): number | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(v);
  } catch {
    throw new Error(`--${name} must be a duration like 35s or 1m, got "${v}"`);
  }
  if (ms <= 0) throw new Error(`--${name} must be positive, got "${v}"`);
  return ms;
}

export async function controllersCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["leader-elect", "no-cross-namespace-refs", "no-remote-bases", "strict-substitutions", "drift-watch", "cancel-health-check-on-new-revision"]);
  checkFlags(args, flags);
  const list = (stringFlag(args, "controllers") ?? "source").split(",").map((s) => s.trim()).filter(Boolean);
  for (const c of list) if (!(knownControllers as readonly string[]).includes(c)) throw new Error(`unknown controller "${c}" (known: ${knownControllers.join(", ")})`);
  const concurrent = stringFlag(args, "concurrent");
  if (concurrent !== undefined && !/^[1-9]\d*$/.test(concurrent)) throw new Error(`--concurrent must be a positive integer, got "${concurrent}"`);
  const leaseDuration = durationFlag(args, "leader-election-lease-duration");
  const renewDeadline = durationFlag(args, "leader-election-renew-deadline");
  const retryPeriod = durationFlag(args, "leader-election-retry-period");
  if ((leaseDuration ?? 35_000) <= (renewDeadline ?? 30_000)) throw new Error("--leader-election-lease-duration must be greater than --leader-election-renew-deadline");
  if ((renewDeadline ?? 30_000) <= (retryPeriod ?? 5_000)) throw new Error("--leader-election-renew-deadline must be greater than --leader-election-retry-period");
  await runControllersForeground({
    controllers: list as ControllerName[],
    kubeconfigPath: stringFlag(args, "kubeconfig"),
    storagePath: stringFlag(args, "storage-path"),
    storageAddr: stringFlag(args, "storage-addr"),
    storageAdvAddr: stringFlag(args, "storage-adv-addr"),
    concurrent: concurrent ? Number(concurrent) : undefined,
    metricsAddr: stringFlag(args, "metrics-addr") ?? ":8080",
    healthAddr: stringFlag(args, "health-addr") ?? ":9440",
    leaderElect: args.flags.get("leader-elect") === true,
    leaderElectionNamespace: stringFlag(args, "leader-election-namespace"),
    leaderElectionLeaseDurationMs: leaseDuration,
    leaderElectionRenewDeadlineMs: renewDeadline,
    leaderElectionRetryPeriodMs: retryPeriod,
    logLevel: stringFlag(args, "log-level") ?? "info",
    watchNamespace: stringFlag(args, "watch-namespace"),
    watchLabelSelector: stringFlag(args, "watch-label-selector"),
    kustomizePath: stringFlag(args, "kustomize-path") ?? (list.includes("kustomize") ? (await findTool("kustomize"))?.path : undefined),
    noCrossNamespaceRefs: boolFlag(args, "no-cross-namespace-refs"),
    noRemoteBases: boolFlag(args, "no-remote-bases"),
    defaultServiceAccount: stringFlag(args, "default-service-account"),
    requeueDependency: stringFlag(args, "requeue-dependency"),
    strictSubstitutions: boolFlag(args, "strict-substitutions"),
    driftWatch: boolFlag(args, "drift-watch"),
    cancelHealthCheckOnNewRevision: boolFlag(args, "cancel-health-check-on-new-revision"),
  });
  return 0;
}
