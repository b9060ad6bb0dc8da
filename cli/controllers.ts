// `mooring controllers`: runs the controllers in the foreground (what the container image runs too).
import { checkFlags, parseArgs, stringFlag } from "./args";
import { knownControllers, runControllersForeground, type ControllerName } from "../controllers/main";

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
  "log-level",
  "watch-namespace",
];

export async function controllersCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["leader-elect"]);
  checkFlags(args, flags);
  const list = (stringFlag(args, "controllers") ?? "source").split(",").map((s) => s.trim()).filter(Boolean);
  for (const c of list) if (!(knownControllers as readonly string[]).includes(c)) throw new Error(`unknown controller "${c}" (known: ${knownControllers.join(", ")})`);
  const concurrent = stringFlag(args, "concurrent");
  if (concurrent !== undefined && !/^[1-9]\d*$/.test(concurrent)) throw new Error(`--concurrent must be a positive integer, got "${concurrent}"`);
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
    logLevel: stringFlag(args, "log-level") ?? "info",
    watchNamespace: stringFlag(args, "watch-namespace"),
  });
  return 0;
}
