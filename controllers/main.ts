// The controllers entry: runs any subset of Mooring's controllers in one process, in the foreground.
// Used by `mooring controllers` and by the container image.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ClusterConfig as KubeConfig } from "./runtime/kubeconfig";
import { Manager, type ManagerTuning } from "./runtime/manager";
import { loadKubeConfig } from "./runtime/kube";
import { newLogger, type Logger } from "./runtime/log";
import type { KustomizeControllerHandle, KustomizeControllerOptions } from "./kustomize";

export const knownControllers = ["source", "kustomize"] as const;
export type ControllerName = (typeof knownControllers)[number];

/** The kustomize-controller's own flags (--kustomize-path, --no-cross-namespace-refs, …). */
type KustomizeFlags = Omit<KustomizeControllerOptions, "kubeConfig" | "concurrent">;

export interface ControllersOptions extends KustomizeFlags, ManagerTuning {
  controllers: ControllerName[];
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  storagePath?: string;
  storageAddr?: string;
  storageAdvAddr?: string;
  concurrent?: number;
  metricsAddr?: string;
  healthAddr?: string;
  leaderElect?: boolean;
  leaderElectionNamespace?: string;
  /** Lease timings (ms); defaults as Flux: 35s / 30s / 5s. */
  leaderElectionLeaseDurationMs?: number;
  leaderElectionRenewDeadlineMs?: number;
  leaderElectionRetryPeriodMs?: number;
  logLevel?: string;
  log?: Logger;
  /** Watch one namespace only (default: all namespaces). */
  watchNamespace?: string;
}

export interface RunningControllers {
  manager: Manager;
  /** Resolves when the manager stopped (after the signal aborted). */
  done: Promise<void>;
  /** The kustomize-controller's handle, when it runs. */
  kustomize?: KustomizeControllerHandle;
}

const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

function runtimeNamespace(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.RUNTIME_NAMESPACE) return process.env.RUNTIME_NAMESPACE;
  if (fs.existsSync(serviceAccountNamespaceFile)) return fs.readFileSync(serviceAccountNamespaceFile, "utf8").trim();
  return "flux-system";
}

export async function startControllers(o: ControllersOptions, signal: AbortSignal): Promise<RunningControllers> {
  for (const c of o.controllers) if (!knownControllers.includes(c)) throw new Error(`unknown controller "${c}" (known: ${knownControllers.join(", ")})`);
  const log = o.log ?? newLogger(o.logLevel ?? "info");
  const kubeConfig = o.kubeConfig ?? (await loadKubeConfig(o.kubeconfigPath));
  const component = o.controllers.length === 1 ? `${o.controllers[0]}-controller` : "mooring-controllers";
  const mgr = new Manager({
    kubeConfig,
    log,
    component,
    metricsAddr: o.metricsAddr,
    healthAddr: o.healthAddr,
    namespace: o.watchNamespace,
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
  if (o.controllers.includes("source")) {
    const { addSourceController } = await import("./source/index.js");
    addSourceController(mgr, {
      storagePath: o.storagePath ?? (process.env.KUBERNETES_SERVICE_HOST ? "/data" : path.join(os.tmpdir(), "mooring", "storage")),
      storageAddr: o.storageAddr ?? ":9090",
      storageAdvAddr: o.storageAdvAddr,
      concurrent: o.concurrent,
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
    };
    const { addKustomizeController } = await import("./kustomize/index.js");
    kustomize = addKustomizeController(mgr, { ...flags, kubeConfig, concurrent: o.concurrent });
  }
  return { manager: mgr, done: mgr.run(signal), kustomize };
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
