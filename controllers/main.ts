// The controllers entry: runs any subset of Mooring's controllers in one process, in the foreground.
// `mooring controllers` and the container image (`node dist/controllers/main.js ARGS`) run it with the
// same flags (controllers/flags.ts).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ClusterConfig as KubeConfig } from "./runtime/kubeconfig";
import { Manager, type ManagerTuning } from "./runtime/manager";
import { loadKubeConfig } from "./runtime/kube";
import { HttpEventSink, type EventSink } from "./runtime/fluxevents";
import { newLogger, type Logger, type LogEncoding, type LogLevel } from "./runtime/log";
import type { KustomizeControllerHandle, KustomizeControllerOptions } from "./kustomize";
import type { HelmControllerHandle } from "./helm";
import type { NotificationControllerHandle } from "./notification";
import { FlagError, knownControllers, parseControllersArgs } from "./flags";

export { knownControllers } from "./flags";
export type { LogEncoding, LogLevel } from "./runtime/log";
export type ControllerName = "source" | "kustomize" | "helm" | "notification" | "source-watcher" | "image-reflector" | "image-automation";

/** The kustomize-controller's own flags (--kustomize-path, --no-cross-namespace-refs, …). */
type KustomizeFlags = Omit<KustomizeControllerOptions, "kubeConfig" | "concurrent">;

/**
 * What the controllers run with: the parsed command line (controllers/flags.ts), or options a test or
 * benchmark builds directly. Unset fields take Flux's defaults.
 */
export interface ControllersOptions extends KustomizeFlags, ManagerTuning {
  controllers: ControllerName[];
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  storagePath?: string;
  storageAddr?: string;
  storageAdvAddr?: string;
  /** Reconciles at once per controller (--concurrent). Default each controller's own (2 source, 40 kustomize, 50 helm). */
  concurrent?: number;
  /** `/metrics` listen address (--metrics-addr); "" serves none. */
  metricsAddr?: string;
  /** `/healthz` `/readyz` listen address (--health-addr); "" serves none. */
  healthAddr?: string;
  /** Take a Lease before reconciling (--enable-leader-election, alias --leader-elect). */
  leaderElect?: boolean;
  /** Namespace of the Lease (--leader-election-namespace). Default the runtime namespace. */
  leaderElectionNamespace?: string;
  /** Lease timings (ms); defaults as Flux: 35s / 30s / 5s. */
  leaderElectionLeaseDurationMs?: number;
  leaderElectionRenewDeadlineMs?: number;
  leaderElectionRetryPeriodMs?: number;
  /** --log-level: trace, debug, info, error. Default info. */
  logLevel?: LogLevel | "silent";
  /** --log-encoding: json (Flux's shape, what `flux logs` reads) or console. Default json. */
  logEncoding?: LogEncoding;
  log?: Logger;
  /** Watch one namespace only (--watch-namespace). Wins over watchAllNamespaces. */
  watchNamespace?: string;
  /** --watch-all-namespaces (default true); false watches only the runtime namespace. */
  watchAllNamespaces?: boolean;
  /**
   * Every known feature gate with its resolved value (--feature-gates and the dedicated flags). The
   * gates that act today are mirrored in driftWatch, cancelHealthCheckOnNewRevision, strictSubstitutions and
   * additiveCelDependencyCheck.
   */
  featureGates?: Record<string, boolean>;
  /** --artifact-retention-ttl in ms (default 60s): superseded artifacts older than this are removed. */
  artifactRetentionTtlMs?: number;
  /** --artifact-retention-records (default 2): artifacts kept per object, the current one included. */
  artifactRetentionRecords?: number;
  /** --helm-index-max-size in bytes (default 50 MiB): the largest HelmRepository index fetched. */
  helmIndexMaxSize?: number;
  /** --helm-chart-max-size in bytes (default 10 MiB): the largest chart archive downloaded. */
  helmChartMaxSize?: number;
  /** --helm-chart-file-max-size in bytes (default 5 MiB): the largest single file of a chart loaded or packaged. */
  helmChartFileMaxSize?: number;
  /** --helm-helper-path: the mooring-helm binary the helm-controller runs (default from PATH). */
  helmHelperPath?: string;
  /** --events-addr: URL of the events receiver (notification-controller); Flux's events are posted there. */
  eventsAddr?: string;
  /** --events-addr of the notification-controller: where it listens for events (":9090"); "" serves none. */
  eventsListenAddr?: string;
  /** --receiverAddr: the notification-controller's webhook listen address (":9292"); "" serves none. */
  receiverAddr?: string;
  /** --rate-limit-interval in ms (default 5m): identical events within it are sent once. */
  rateLimitIntervalMs?: number;
  /** --gcr-certs-url: where gcr Receivers fetch Google's ID-token keys (JWKS); default Google's. */
  googleCertsUrl?: string;
}

export interface RunningControllers {
  manager: Manager;
  /** Resolves when the manager stopped (after the signal aborted). */
  done: Promise<void>;
  /** The kustomize-controller's handle, when it runs. */
  kustomize?: KustomizeControllerHandle;
  /** The helm-controller's handle, when it runs. */
  helm?: HelmControllerHandle;
  /** The notification-controller's handle, when it runs. */
  notification?: NotificationControllerHandle;
}

const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

function runtimeNamespace(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.RUNTIME_NAMESPACE) return process.env.RUNTIME_NAMESPACE;
  if (fs.existsSync(serviceAccountNamespaceFile)) return fs.readFileSync(serviceAccountNamespaceFile, "utf8").trim();
  return "flux-system";
}

async function readKubeConfig(file: string | undefined): Promise<KubeConfig> {
  try {
    return await loadKubeConfig(file);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(file ? `--kubeconfig ${file}: ${message}` : message);
  }
}

/** The namespace to watch: an explicit one, else the runtime namespace when not watching all. */
export function watchedNamespace(o: ControllersOptions): string | undefined {
  if (o.watchNamespace) return o.watchNamespace;
  return o.watchAllNamespaces === false ? runtimeNamespace() : undefined;
}

export async function startControllers(o: ControllersOptions, signal: AbortSignal): Promise<RunningControllers> {
  for (const c of o.controllers) if (!knownControllers.includes(c)) throw new Error(`unknown controller "${c}" (known: ${knownControllers.join(", ")})`);
  const log = o.log ?? newLogger(o.logLevel ?? "info", undefined, o.logEncoding ?? "json");
  const kubeConfig = o.kubeConfig ?? (await readKubeConfig(o.kubeconfigPath));
  const component = o.controllers.length === 1 ? (o.controllers[0] === "source-watcher" ? "source-watcher" : `${o.controllers[0]}-controller`) : "mooring-controllers";
  // Without --events-addr, a notification-controller in this process takes the other controllers' events directly.
  const inProcess: { sink?: EventSink } = {};
  const eventSink: EventSink | undefined = o.eventsAddr
    ? new HttpEventSink(o.eventsAddr, { log })
    : o.controllers.includes("notification")
      ? { post: (e) => inProcess.sink?.post(e), flush: (ms) => inProcess.sink?.flush?.(ms) ?? Promise.resolve() }
      : undefined;
  const mgr = new Manager({
    kubeConfig,
    log,
    component,
    eventSink,
    metricsAddr: o.metricsAddr,
    healthAddr: o.healthAddr,
    namespace: watchedNamespace(o),
    watchLabelSelector: o.watchLabelSelector,
    kubeApiQps: o.kubeApiQps,
    kubeApiBurst: o.kubeApiBurst,
    minRetryDelayMs: o.minRetryDelayMs,
    maxRetryDelayMs: o.maxRetryDelayMs,
    intervalJitterPercentage: o.intervalJitterPercentage,
    leaderElection: o.leaderElect
      ? {
          namespace: runtimeNamespace(o.leaderElectionNamespace),
          name: `${component}-leader-election`,
          leaseDurationMs: o.leaderElectionLeaseDurationMs,
          renewDeadlineMs: o.leaderElectionRenewDeadlineMs,
          retryPeriodMs: o.leaderElectionRetryPeriodMs,
        }
      : undefined,
  });
  // Each controller's code is loaded only when it runs in this process (less code and memory per process).
  let sourceStorage: (() => import("./source/storage").Storage | undefined) | undefined;
  if (o.controllers.includes("source")) {
    const { addSourceController } = await import("./source/index.js");
    sourceStorage = addSourceController(mgr, {
      storagePath: o.storagePath ?? (process.env.KUBERNETES_SERVICE_HOST ? "/data" : path.join(os.tmpdir(), "mooring", "storage")),
      storageAddr: o.storageAddr ?? ":9090",
      storageAdvAddr: o.storageAdvAddr,
      concurrent: o.concurrent,
      retention: { ttlMs: o.artifactRetentionTtlMs, records: o.artifactRetentionRecords },
      helmIndexMaxSize: o.helmIndexMaxSize,
      helmChartMaxSize: o.helmChartMaxSize,
      helmChartFileMaxSize: o.helmChartFileMaxSize,
    }).storage;
  }
  if (o.controllers.includes("source-watcher")) {
    const { addSourceWatcher } = await import("./sourcewatcher/index.js");
    // With the source-controller in this process, its storage and server serve the generated artifacts too.
    addSourceWatcher(mgr, {
      sharedStorage: sourceStorage,
      storagePath: o.storagePath ?? (process.env.KUBERNETES_SERVICE_HOST ? "/data" : path.join(os.tmpdir(), "mooring", "storage")),
      storageAddr: o.storageAddr ?? ":9090",
      storageAdvAddr: o.storageAdvAddr,
      retention: { ttlMs: o.artifactRetentionTtlMs, records: o.artifactRetentionRecords },
      concurrent: o.concurrent,
      noCrossNamespaceRefs: o.noCrossNamespaceRefs,
    });
  }
  let kustomize: KustomizeControllerHandle | undefined;
  if (o.controllers.includes("kustomize")) {
    const flags: KustomizeFlags = {
      kustomizePath: o.kustomizePath,
      noCrossNamespaceRefs: o.noCrossNamespaceRefs,
      noRemoteBases: o.noRemoteBases,
      defaultServiceAccount: o.defaultServiceAccount,
      requeueDependency: o.requeueDependency,
      strictSubstitutions: o.strictSubstitutions,
      driftWatch: o.driftWatch,
      cancelHealthCheckOnNewRevision: o.cancelHealthCheckOnNewRevision,
      additiveCelDependencyCheck: o.additiveCelDependencyCheck,
    };
    const { addKustomizeController } = await import("./kustomize/index.js");
    kustomize = addKustomizeController(mgr, { ...flags, kubeConfig, concurrent: o.concurrent });
  }
  let helm: HelmControllerHandle | undefined;
  if (o.controllers.includes("helm")) {
    const { addHelmController } = await import("./helm/index.js");
    helm = addHelmController(mgr, {
      kubeConfig,
      helperPath: o.helmHelperPath,
      concurrent: o.concurrent,
      defaultServiceAccount: o.defaultServiceAccount,
      noCrossNamespaceRefs: o.noCrossNamespaceRefs,
      requeueDependency: o.requeueDependency,
    });
  }
  let notification: NotificationControllerHandle | undefined;
  if (o.controllers.includes("notification")) {
    const { addNotificationController } = await import("./notification/index.js");
    notification = addNotificationController(mgr, {
      eventsAddr: o.eventsListenAddr ?? ":9090",
      receiverAddr: o.receiverAddr ?? ":9292",
      rateLimitMs: o.rateLimitIntervalMs,
      noCrossNamespaceRefs: o.noCrossNamespaceRefs,
      concurrent: o.concurrent,
      googleCertsUrl: o.googleCertsUrl,
    });
    inProcess.sink = notification.sink;
  }
  if (o.controllers.includes("image-reflector")) {
    const { addImageReflectorController } = await import("./imagereflector/index.js");
    addImageReflectorController(mgr, {
      storagePath: o.storagePath ?? (process.env.KUBERNETES_SERVICE_HOST ? "/data" : path.join(os.tmpdir(), "mooring", "storage")),
      concurrent: o.concurrent,
    });
  }
  if (o.controllers.includes("image-automation")) {
    const { addImageAutomationController } = await import("./imageautomation/index.js");
    addImageAutomationController(mgr, { concurrent: o.concurrent });
  }
  return { manager: mgr, done: mgr.run(signal), kustomize, helm, notification };
}

/** Runs until SIGTERM/SIGINT, then stops gracefully. */
export async function runControllersForeground(o: ControllersOptions): Promise<void> {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    o.log?.info({ signal: sig }, "shutting down");
    stop.abort(new Error(`received ${sig}`));
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const running = await startControllers(o, stop.signal);
  await running.done;
}

/**
 * The image's entry: parse the command line, run until a signal. Exit codes as Go's flag handling:
 * 2 for a bad command line, 1 when the controllers fail, 0 after `--help` or a graceful stop.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed: ReturnType<typeof parseControllersArgs>;
  try {
    parsed = parseControllersArgs(argv, env);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`controllers: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(parsed.usage);
    return 0;
  }
  const log = newLogger(parsed.options.logLevel ?? "info", undefined, parsed.options.logEncoding ?? "json");
  try {
    await runControllersForeground({ ...parsed.options, log });
    return 0;
  } catch (err) {
    log.error({ err: err instanceof Error ? err.message : String(err) }, "controllers stopped with an error");
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`controllers: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
