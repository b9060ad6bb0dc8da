// The controllers' command line: Flux's flag names and defaults (Flux 2.7's source- and
// kustomize-controller), plus Mooring's own. One parser for `mooring controllers` and the image's entry.
import { parseDuration } from "./source/duration";
import { FlagError, flagUsage, parseBool, parseFlagSet, type FlagSpec, type ParsedFlags } from "./flagset";
import { parseLabelSelector } from "./labelselector";
import type { ControllerName, ControllersOptions, LogEncoding, LogLevel } from "./main";
import { defaultHelmChartFileMaxSize, defaultHelmChartMaxSize, defaultHelmIndexMaxSize } from "./api/source-helm";

export { FlagError } from "./flagset";

export const knownControllers: readonly ControllerName[] = ["source", "kustomize", "helm", "notification", "source-watcher", "image-reflector", "image-automation"];
export const logLevels: readonly LogLevel[] = ["trace", "debug", "info", "error"];
export const logEncodings: readonly LogEncoding[] = ["json", "console"];

/** A feature gate: Flux's where Flux has it, Mooring's own extensions otherwise. */
export interface FeatureGate {
  default: boolean;
  /** What the gate turns on, for `--help` and the docs. */
  description: string;
  /** The dedicated flag that sets the same gate (kept for existing command lines), if it has one. */
  flag?: string;
}

/** Every gate `--feature-gates` accepts, with its default. Unknown gates are refused. */
export const featureGates: Readonly<Record<string, FeatureGate>> = {
  AdditiveCELDependencyCheck: {
    default: false,
    description: "check a dependency's Ready condition after its dependsOn readyExpr passed, instead of the expression alone",
  },
  CancelHealthCheckOnNewRevision: {
    default: true,
    description: "end a Kustomization's health check when its source has a new revision, and reconcile that one at once (Flux: off by default)",
    flag: "cancel-health-check-on-new-revision",
  },
  DriftWatch: {
    default: true,
    description: "watch applied objects and revert drift within seconds instead of at the next interval (Mooring)",
    flag: "drift-watch",
  },
  StrictPostBuildSubstitutions: {
    default: false,
    description: "fail a Kustomization when a ${var} has no value and no default",
    flag: "strict-substitutions",
  },
};

/** Flux's defaults for the flags whose values the entry applies itself. */
export const flagDefaults = {
  metricsAddr: ":8080",
  healthAddr: ":9440",
  storageAddr: ":9090",
  logLevel: "info",
  logEncoding: "json",
  leaseDuration: "35s",
  renewDeadline: "30s",
  retryPeriod: "5s",
  minRetryDelay: "750ms",
  maxRetryDelay: "15m",
  intervalJitterPercentage: 5,
  requeueDependency: "30s",
  artifactRetentionTtl: "60s",
  artifactRetentionRecords: 2,
  eventsListenAddr: ":9090",
  receiverAddr: ":9292",
  rateLimitInterval: "5m",
} as const;

const gateList = Object.entries(featureGates)
  .map(([name, g]) => `${name}=${g.default}`)
  .join(",");

/** The flags, in `--help` order. */
export const controllerFlags: readonly FlagSpec[] = [
  { name: "controllers", type: "list", usage: "controllers to run in this process: source, kustomize, helm, notification, source-watcher, image-reflector, image-automation", defaultText: "source" },
  { name: "kubeconfig", type: "string", usage: "kubeconfig file; without it $KUBECONFIG, else the in-cluster ServiceAccount" },
  { name: "concurrent", type: "int", usage: "reconciles at once per controller", defaultText: "2 (source, notification), 40 (kustomize), 50 (helm), 4 (image and artifact generator)" },
  { name: "watch-all-namespaces", type: "bool", usage: "watch every namespace; false watches only the runtime namespace ($RUNTIME_NAMESPACE)", defaultText: "true" },
  { name: "watch-namespace", type: "string", usage: "watch only this namespace" },
  { name: "watch-label-selector", type: "string", usage: "reconcile only objects whose labels match, e.g. sharding.fluxcd.io/key=shard1" },
  { name: "metrics-addr", type: "string", usage: "Prometheus /metrics listen address; 0 turns it off", defaultText: flagDefaults.metricsAddr },
  { name: "health-addr", type: "string", usage: "/healthz and /readyz listen address; 0 turns it off", defaultText: flagDefaults.healthAddr },
  { name: "events-addr", type: "string", usage: "URL of the events receiver (notification-controller) that Flux events are posted to; for the notification-controller itself, the events listen address", defaultText: `none; ${flagDefaults.eventsListenAddr} for the notification-controller` },
  { name: "log-level", type: "string", usage: `log verbosity: ${logLevels.join(", ")}`, defaultText: flagDefaults.logLevel },
  { name: "log-encoding", type: "string", usage: `log format: ${logEncodings.join(" or ")}`, defaultText: flagDefaults.logEncoding },
  { name: "kube-api-qps", type: "float", usage: "client-side limit of queries per second to the Kubernetes API (Flux uses 50)", defaultText: "no limit: the apiserver's priority and fairness" },
  { name: "kube-api-burst", type: "int", usage: "burst of queries above --kube-api-qps (Flux uses 300)", defaultText: "--kube-api-qps rounded up" },
  { name: "min-retry-delay", type: "duration", usage: "first delay after a failed reconcile", defaultText: flagDefaults.minRetryDelay },
  { name: "max-retry-delay", type: "duration", usage: "cap of the exponential delay after failed reconciles", defaultText: flagDefaults.maxRetryDelay },
  { name: "interval-jitter-percentage", type: "int", usage: "jitter of +/- this percentage on every interval; 0 to 99", defaultText: String(flagDefaults.intervalJitterPercentage) },
  { name: "feature-gates", type: "map", usage: `feature gates as Gate=true|false,…: ${Object.keys(featureGates).join(", ")}`, defaultText: gateList },
  { name: "enable-leader-election", type: "bool", usage: "take a coordination.k8s.io Lease before reconciling, so one replica works at a time", defaultText: "false", aliases: ["leader-elect"], group: "Leader election" },
  { name: "leader-election-namespace", type: "string", usage: "namespace of the Lease", defaultText: "the runtime namespace", group: "Leader election" },
  { name: "leader-election-lease-duration", type: "duration", usage: "how long a Lease is valid without renewal", defaultText: flagDefaults.leaseDuration, group: "Leader election" },
  { name: "leader-election-renew-deadline", type: "duration", usage: "how long the leader retries renewing before it gives up", defaultText: flagDefaults.renewDeadline, group: "Leader election" },
  { name: "leader-election-retry-period", type: "duration", usage: "wait between attempts to take or renew the Lease", defaultText: flagDefaults.retryPeriod, group: "Leader election" },
  { name: "storage-path", type: "string", usage: "directory of the artifact storage (source) and of the scanned tags (image-reflector)", defaultText: "/data in a cluster, else <tmp>/mooring/storage", group: "source" },
  { name: "storage-addr", type: "string", usage: "artifact server listen address", defaultText: flagDefaults.storageAddr, group: "source" },
  { name: "storage-adv-addr", type: "string", usage: "host[:port] written in artifact URLs; $(VAR) is expanded from the environment", defaultText: "the pod's hostname and the storage port", group: "source" },
  { name: "artifact-retention-ttl", type: "duration", usage: "how long artifacts of earlier revisions are kept", defaultText: flagDefaults.artifactRetentionTtl, group: "source" },
  { name: "artifact-retention-records", type: "int", usage: "how many artifacts per object are kept", defaultText: String(flagDefaults.artifactRetentionRecords), group: "source" },
  { name: "helm-index-max-size", type: "int", usage: "largest Helm repository index.yaml fetched, in bytes", defaultText: String(defaultHelmIndexMaxSize), group: "source" },
  { name: "helm-chart-max-size", type: "int", usage: "largest Helm chart archive downloaded, in bytes", defaultText: String(defaultHelmChartMaxSize), group: "source" },
  { name: "helm-chart-file-max-size", type: "int", usage: "largest single file of a Helm chart when it is loaded or packaged, in bytes", defaultText: String(defaultHelmChartFileMaxSize), group: "source" },
  { name: "helm-helper-path", type: "string", usage: "Mooring's Helm helper binary (mooring-helm), which renders charts and runs Helm's actions", defaultText: "mooring-helm from PATH", group: "helm" },
  { name: "kustomize-path", type: "string", usage: "kustomize binary", defaultText: "kustomize from PATH", group: "kustomize" },
  { name: "default-service-account", type: "string", usage: "ServiceAccount impersonated when a Kustomization or HelmRelease names none", group: "kustomize, helm" },
  { name: "no-cross-namespace-refs", type: "bool", usage: "refuse references to sources in other namespaces", defaultText: "false", group: "kustomize, helm" },
  { name: "no-remote-bases", type: "bool", usage: "refuse kustomize remote bases (only files of the artifact)", defaultText: "false", group: "kustomize" },
  { name: "requeue-dependency", type: "duration", usage: "retry interval while dependencies are not ready", defaultText: flagDefaults.requeueDependency, group: "kustomize" },
  { name: "receiverAddr", type: "string", usage: "webhook receiver listen address; 0 turns it off", defaultText: flagDefaults.receiverAddr, group: "notification" },
  { name: "rate-limit-interval", type: "duration", usage: "identical events within this interval are sent to providers once", defaultText: flagDefaults.rateLimitInterval, group: "notification" },
  { name: "gcr-certs-url", type: "string", usage: "where gcr Receivers fetch Google's ID-token signing keys (JWKS)", defaultText: "https://www.googleapis.com/oauth2/v3/certs", group: "notification" },
  ...Object.entries(featureGates).flatMap(([gate, g]): FlagSpec[] =>
    g.flag ? [{ name: g.flag, type: "bool", usage: `the ${gate} feature gate`, defaultText: String(g.default), group: "kustomize" }] : [],
  ),
];

/** Reading typed values out of the parsed flags; every error names the flag as it was spelled. */
class FlagValues {
  constructor(private readonly parsed: ParsedFlags) {}

  private flag(name: string): string {
    return `--${this.parsed.spelledAs.get(name) ?? name}`;
  }

  has(name: string): boolean {
    return this.parsed.values.has(name);
  }

  string(name: string): string | undefined {
    return this.parsed.values.get(name);
  }

  bool(name: string): boolean | undefined {
    const v = this.string(name);
    return v === undefined ? undefined : v === "true";
  }

  int(name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw new FlagError(`invalid argument "${v}" for ${this.flag(name)}: must be a whole number`);
    const n = Number(v);
    if (n < min || n > max) throw new FlagError(`invalid argument "${v}" for ${this.flag(name)}: must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`}`);
    return n;
  }

  positiveFloat(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n <= 0) throw new FlagError(`invalid argument "${v}" for ${this.flag(name)}: must be a number greater than 0`);
    return n;
  }

  /** A Go duration in milliseconds. */
  duration(name: string, fallback?: string): number | undefined {
    const v = this.string(name) ?? fallback;
    if (v === undefined) return undefined;
    let ms: number;
    try {
      ms = parseDuration(v);
    } catch {
      throw new FlagError(`invalid argument "${v}" for ${this.flag(name)}: must be a duration like 30s, 1m30s or 500ms`);
    }
    if (ms <= 0) throw new FlagError(`invalid argument "${v}" for ${this.flag(name)}: must be longer than 0`);
    return ms;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.string(name) ?? fallback;
    if (!(allowed as readonly string[]).includes(v)) throw new FlagError(`invalid argument "${v}" for ${this.flag(name)}: must be one of ${allowed.join(", ")}`);
    return v as T;
  }

  address(name: string, fallback: string): string {
    const v = this.string(name) ?? fallback;
    if (v === "0") return "";
    if (!/^(\[[^\]]+\]|[^:[\]]*):\d{1,5}$/.test(v) || Number(v.slice(v.lastIndexOf(":") + 1)) > 65535) {
      throw new FlagError(`invalid argument "${v}" for ${this.flag(name)}: must be HOST:PORT or :PORT (0 turns it off)`);
    }
    return v;
  }

  label(name: string): string {
    return this.flag(name);
  }
}

/** `Gate=true,Other=false` → gate values; unknown gates and non-boolean values are refused. */
export function parseFeatureGates(text: string): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const item of text.split(",").map((s) => s.trim())) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    const name = eq >= 0 ? item.slice(0, eq).trim() : item;
    const value = eq >= 0 ? parseBool(item.slice(eq + 1).trim()) : undefined;
    if (!Object.prototype.hasOwnProperty.call(featureGates, name)) {
      throw new FlagError(`--feature-gates: unknown feature gate "${name}" (known: ${Object.keys(featureGates).join(", ")})`);
    }
    if (value === undefined) throw new FlagError(`--feature-gates: "${item}" must be ${name}=true or ${name}=false`);
    out[name] = value;
  }
  return out;
}

/** Expands `$(NAME)` from the environment, as the kubelet does for container args it can resolve. */
function expandEnv(text: string, env: NodeJS.ProcessEnv, flag: string): string {
  return text.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, name: string) => {
    const value = env[name];
    if (value === undefined || value === "") throw new FlagError(`${flag}: $(${name}) is not set in the environment (in a Pod, define env ${name}; outside one, give the address itself)`);
    return value;
  });
}

/** What a command line asks for: options to run with, or the help text. */
export type ControllersCommandLine = { help: true; usage: string } | { help: false; options: ControllersOptions };

/** Resolves feature gates: defaults, then --feature-gates, then the dedicated flags (which must agree). */
function resolveGates(v: FlagValues): Record<string, boolean> {
  const fromList = v.has("feature-gates") ? parseFeatureGates(v.string("feature-gates")!) : {};
  const gates: Record<string, boolean> = {};
  for (const [gate, g] of Object.entries(featureGates)) {
    const dedicated = g.flag ? v.bool(g.flag) : undefined;
    const listed = fromList[gate];
    if (g.flag && dedicated !== undefined && listed !== undefined && dedicated !== listed) {
      throw new FlagError(`${v.label(g.flag)}=${dedicated} contradicts --feature-gates=${gate}=${listed}; give one of them`);
    }
    gates[gate] = dedicated ?? listed ?? g.default;
  }
  return gates;
}

function resolveControllers(v: FlagValues): ControllerName[] {
  const list = (v.string("controllers") ?? "source")
    .split(",")
    .map((s) => s.trim().replace(/-controller$/, ""))
    .filter(Boolean);
  if (list.length === 0) throw new FlagError(`--controllers: give at least one of ${knownControllers.join(", ")}`);
  for (const c of list) {
    if (!(knownControllers as readonly string[]).includes(c)) throw new FlagError(`--controllers: unknown controller "${c}" (known: ${knownControllers.join(", ")})`);
  }
  return [...new Set(list)] as ControllerName[];
}

function resolveLeaderElection(v: FlagValues): Pick<ControllersOptions, "leaderElectionLeaseDurationMs" | "leaderElectionRenewDeadlineMs" | "leaderElectionRetryPeriodMs"> {
  const lease = v.duration("leader-election-lease-duration", flagDefaults.leaseDuration)!;
  const renew = v.duration("leader-election-renew-deadline", flagDefaults.renewDeadline)!;
  const retry = v.duration("leader-election-retry-period", flagDefaults.retryPeriod)!;
  if (lease <= renew) throw new FlagError(`--leader-election-lease-duration (${lease}ms) must be longer than --leader-election-renew-deadline (${renew}ms)`);
  if (renew <= retry) throw new FlagError(`--leader-election-renew-deadline (${renew}ms) must be longer than --leader-election-retry-period (${retry}ms)`);
  return { leaderElectionLeaseDurationMs: lease, leaderElectionRenewDeadlineMs: renew, leaderElectionRetryPeriodMs: retry };
}

function resolveRetry(v: FlagValues): Pick<ControllersOptions, "minRetryDelayMs" | "maxRetryDelayMs"> {
  const min = v.duration("min-retry-delay", flagDefaults.minRetryDelay)!;
  const max = v.duration("max-retry-delay", flagDefaults.maxRetryDelay)!;
  if (min > max) throw new FlagError(`--min-retry-delay (${min}ms) must not be longer than --max-retry-delay (${max}ms)`);
  return { minRetryDelayMs: min, maxRetryDelayMs: max };
}

function resolveWatch(v: FlagValues): Pick<ControllersOptions, "watchAllNamespaces" | "watchNamespace" | "watchLabelSelector"> {
  const all = v.bool("watch-all-namespaces");
  const namespace = v.string("watch-namespace");
  if (namespace !== undefined && all === true) throw new FlagError("--watch-namespace and --watch-all-namespaces=true contradict each other; give one of them");
  if (namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) throw new FlagError(`invalid argument "${namespace}" for --watch-namespace: not a namespace name`);
  const selector = v.string("watch-label-selector");
  if (selector !== undefined) {
    try {
      parseLabelSelector(selector);
    } catch (err) {
      throw new FlagError(`--watch-label-selector: ${(err as Error).message}`);
    }
  }
  return { watchAllNamespaces: namespace === undefined ? (all ?? true) : false, watchNamespace: namespace, watchLabelSelector: selector || undefined };
}

/** A listen address as the servers take it: HOST:PORT or :PORT. */
const listenAddrPattern = /^(\[[^\]]+\]|[^:/[\]]*):\d{1,5}$/;

/**
 * --events-addr is a URL for the controllers that send events, and a listen address for the
 * notification-controller that receives them (Flux's flag name in both).
 */
function resolveEvents(v: FlagValues, controllers: ControllerName[]): Pick<ControllersOptions, "eventsAddr" | "eventsListenAddr"> {
  const addr = v.string("events-addr");
  const notification = controllers.includes("notification");
  if (addr !== undefined && (listenAddrPattern.test(addr) || addr === "0")) {
    if (!notification) throw new FlagError(`--events-addr "${addr}" is a listen address, which only the notification-controller takes; the other controllers need its URL, e.g. http://notification-controller.flux-system.svc.cluster.local./`);
    return { eventsListenAddr: v.address("events-addr", flagDefaults.eventsListenAddr) };
  }
  return { eventsAddr: resolveEventsAddr(addr), eventsListenAddr: notification ? flagDefaults.eventsListenAddr : undefined };
}

function resolveEventsAddr(addr: string | undefined): string | undefined {
  if (addr === undefined || addr === "") return undefined;
  // A URL may carry credentials: the message shows the value only when it has none.
  const shown = addr.includes("@") ? "" : `"${addr}" `;
  const bad = new FlagError(`invalid argument ${shown}for --events-addr: must be an http:// or https:// URL`);
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw bad;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw bad;
  return addr;
}

/**
 * Parses the controllers' command line into options. `env` supplies `$(VAR)` expansions (the kubelet
 * expands them in a Pod; a process started by hand gets the same result).
 */
export function parseControllersArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ControllersCommandLine {
  const parsed = parseFlagSet(argv, controllerFlags);
  if (parsed.help) return { help: true, usage: controllersUsage() };
  if (parsed.positionals.length) throw new FlagError(`unexpected argument "${parsed.positionals[0]}": the controllers take flags only (--help lists them)`);
  const v = new FlagValues(parsed);
  const gates = resolveGates(v);
  const storageAdvAddr = v.string("storage-adv-addr");
  const controllers = resolveControllers(v);
  const options: ControllersOptions = {
    controllers,
    kubeconfigPath: v.string("kubeconfig"),
    concurrent: v.int("concurrent", 1),
    ...resolveWatch(v),
    metricsAddr: v.address("metrics-addr", flagDefaults.metricsAddr),
    healthAddr: v.address("health-addr", flagDefaults.healthAddr),
    ...resolveEvents(v, controllers),
    receiverAddr: v.address("receiverAddr", flagDefaults.receiverAddr),
    rateLimitIntervalMs: v.duration("rate-limit-interval", flagDefaults.rateLimitInterval),
    googleCertsUrl: httpUrl(v.string("gcr-certs-url"), "gcr-certs-url"),
    logLevel: v.oneOf("log-level", logLevels, flagDefaults.logLevel),
    logEncoding: v.oneOf("log-encoding", logEncodings, flagDefaults.logEncoding),
    kubeApiQps: v.positiveFloat("kube-api-qps"),
    kubeApiBurst: v.int("kube-api-burst", 1),
    ...resolveRetry(v),
    intervalJitterPercentage: v.int("interval-jitter-percentage", 0, 99) ?? flagDefaults.intervalJitterPercentage,
    featureGates: gates,
    leaderElect: v.bool("enable-leader-election") ?? false,
    leaderElectionNamespace: v.string("leader-election-namespace"),
    ...resolveLeaderElection(v),
    storagePath: v.string("storage-path"),
    storageAddr: v.address("storage-addr", flagDefaults.storageAddr) || undefined,
    storageAdvAddr: storageAdvAddr === undefined ? undefined : expandEnv(storageAdvAddr, env, "--storage-adv-addr"),
    artifactRetentionTtlMs: v.duration("artifact-retention-ttl", flagDefaults.artifactRetentionTtl),
    artifactRetentionRecords: v.int("artifact-retention-records", 1) ?? flagDefaults.artifactRetentionRecords,
    helmIndexMaxSize: v.int("helm-index-max-size", 1) ?? defaultHelmIndexMaxSize,
    helmChartMaxSize: v.int("helm-chart-max-size", 1) ?? defaultHelmChartMaxSize,
    helmChartFileMaxSize: v.int("helm-chart-file-max-size", 1) ?? defaultHelmChartFileMaxSize,
    kustomizePath: v.string("kustomize-path"),
    helmHelperPath: v.string("helm-helper-path"),
    defaultServiceAccount: v.string("default-service-account"),
    noCrossNamespaceRefs: v.bool("no-cross-namespace-refs") ?? false,
    noRemoteBases: v.bool("no-remote-bases") ?? false,
    requeueDependency: v.duration("requeue-dependency") === undefined ? undefined : v.string("requeue-dependency"),
    strictSubstitutions: gates.StrictPostBuildSubstitutions,
    driftWatch: gates.DriftWatch,
    cancelHealthCheckOnNewRevision: gates.CancelHealthCheckOnNewRevision,
    additiveCelDependencyCheck: gates.AdditiveCELDependencyCheck,
  };
  if (controllers.includes("notification") && controllers.includes("source") && options.eventsListenAddr && samePort(options.eventsListenAddr, options.storageAddr ?? "")) {
    throw new FlagError(`the notification-controller's events address (--events-addr ${options.eventsListenAddr}) and the artifact server (--storage-addr ${options.storageAddr}) use the same port; give one of them another`);
  }
  if (options.storageAddr === undefined) throw new FlagError("--storage-addr cannot be turned off: the artifact server is how other controllers read artifacts");
  return { help: false, options };
}

const samePort = (a: string, b: string): boolean => a.slice(a.lastIndexOf(":")) === b.slice(b.lastIndexOf(":"));

/** `--help` for the controllers, with the feature gates and their defaults. */
export function controllersUsage(): string {
  const gates = Object.entries(featureGates)
    .map(([name, g]) => `  ${name} (default ${g.default}): ${g.description}`)
    .join("\n");
  return `usage: mooring controllers [flags]      runs in the foreground; SIGTERM shuts down gracefully
       node dist/controllers/main.js [flags]   (the container image's entry; same flags)

${flagUsage(controllerFlags)}
Feature gates (--feature-gates=Gate=true|false,…):
${gates}
`;
}

/** An http(s) URL flag, or a FlagError saying what is expected. */
function httpUrl(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^https?:\/\/[^/\s]+/.test(value)) throw new FlagError(`--${flag} "${value}" is not an http:// or https:// URL`);
  return value;
}
