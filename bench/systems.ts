// The systems under test, each started as child processes against one control plane: Mooring's source-
// and kustomize-controller (and notification-controller when asked) (bin/mooring.js, default flags, started as the image starts them) and Flux's (pinned 1.7.3 binaries, out of
// cluster, default flags or tuned as in Flux's own benchmark).
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import * as path from "node:path";
import { down } from "../local/controlplane";
import { freePort } from "../local/ports";
import { ensureTools, projectRoot, toolPath, toolsPathEnv } from "../local/tools";
import { ensureImageNode, nodeVersion } from "../local/image";
import { readPeakRssMiB } from "./procstat";
import { controllerEnv, controllerNodeFlags } from "../controllers/process";

export type ControllerRole = "source" | "kustomize" | "notification";

export interface ControllerProcess<R extends string = ControllerRole> {
  role: R;
  child: ChildProcess;
  pid: number;
  log: string;
  healthUrl: string;
  /** The last VmHWM read before the process was stopped (it vanishes with the process). */
  peakRssMiB?: number;
}

export interface SystemOptions {
  kubeconfig: string;
  /** Directory for storage and logs. */
  dir: string;
  /** Extra node flags for Mooring's processes (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Extra flags for Mooring's controllers (experiments only; results use the defaults). */
  controllerFlags?: string[];
  /**
   * Also run the notification-controller: its webhook receiver and its events endpoint on 127.0.0.1 at these
   * ports, the other controllers posting their events there (--events-addr).
   */
  notification?: { receiverPort: number; eventsPort: number };
}

export interface RunningSystem {
  controllers: ControllerProcess[];
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();

/** Kills every controller process still running (used on SIGINT and on fatal errors). */
export function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

/** Control planes the running benchmark started and has not stopped yet. */
const controlPlanes = new Set<string>();

/** Registers a control plane directory to stop on SIGINT/SIGTERM; call the result once the run stopped it. */
export function trackControlPlane(dir: string): () => void {
  controlPlanes.add(dir);
  return () => controlPlanes.delete(dir);
}

/** Other things a run started (e.g. a registry), stopped on SIGINT/SIGTERM. */
const cleanups = new Set<() => Promise<unknown>>();

/** Registers a clean-up to run on SIGINT/SIGTERM; call the result once the run did it itself. */
export function onInterrupt(cleanup: () => Promise<unknown>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** On SIGINT or SIGTERM: kill every controller, run the clean-ups, stop every tracked control plane, exit 130. */
export function exitOnSignal(log: (line: string) => void): void {
  const onSignal = () => {
    log("interrupted: stopping controllers and control planes");
    killAll();
    // A run's own teardown may be stopping the same control plane; go over them twice so none survives.
    const downAll = () => Promise.all([...controlPlanes].map((dir) => down({ dir }).catch(() => undefined)));
    void Promise.all([...cleanups].map((c) => c().catch(() => undefined)))
      .then(downAll)
      .then(() => new Promise((r) => setTimeout(r, 2_000)))
      .then(downAll)
      .then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}

export function start<R extends string>(role: R, bin: string, args: string[], o: SystemOptions, env: NodeJS.ProcessEnv, healthPort: number, healthPath: string): ControllerProcess<R> {
  const log = path.join(o.dir, `${role}-controller.log`);
  const fd = openSync(log, "a");
  const child = spawn(bin, args, { stdio: ["ignore", fd, fd], env: { ...env, RUNTIME_NAMESPACE: "flux-system" } });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${bin}`);
  live.add(child);
  child.once("exit", () => live.delete(child));
  return { role, child, pid: child.pid, log, healthUrl: `http://127.0.0.1:${healthPort}${healthPath}` };
}

/** Stops controllers (SIGTERM, SIGKILL after 15 s), reading each one's peak RSS first. */
export async function stopControllers(controllers: ControllerProcess<string>[]): Promise<void> {
  await Promise.all(
    controllers.map(async (c) => {
      c.peakRssMiB = (await readPeakRssMiB(c.pid)) ?? c.peakRssMiB;
      if (c.child.exitCode !== null || c.child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => c.child.once("exit", () => resolve()));
      c.child.kill("SIGTERM");
      const timer = setTimeout(() => c.child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** Waits until every controller answers its health endpoint; fails fast when one exits. */
export async function waitHealthy(controllers: ControllerProcess<string>[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const c of controllers) {
    for (;;) {
      if (c.child.exitCode !== null) throw new Error(`${c.role}-controller exited (code ${c.child.exitCode}); see ${c.log}`);
      try {
        const res = await fetch(c.healthUrl, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${c.role}-controller not healthy at ${c.healthUrl} after ${timeoutMs / 1000}s; see ${c.log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** --events-addr, the same for both systems: the notification-controller's listen address, the others' URL of it. */
function eventsFlags(o: SystemOptions, role: ControllerRole): string[] {
  if (!o.notification) return [];
  const addr = `127.0.0.1:${o.notification.eventsPort}`;
  return [`--events-addr=${role === "notification" ? addr : `http://${addr}/`}`];
}

/**
 * The Node.js that runs Mooring's controllers: the one the controllers image carries (the pods run on it),
 * or BENCH_NODE for experiments.
 */
export async function controllerNode(): Promise<string> {
  return process.env.BENCH_NODE || (await ensureImageNode((line) => console.error(`[bench] ${line}`)));
}

/** The version of controllerNode(), for the reports. */
export function controllersNodeVersion(): string {
  return process.env.BENCH_NODE ? `BENCH_NODE=${process.env.BENCH_NODE}` : `v${nodeVersion}`;
}

/**
 * One Mooring controller process as the pods run it: the image's Node.js with the controllers' Node flags (then
 * nodeFlags), `mooring controllers --controllers=<role>` on the run's kubeconfig, then the extra flags.
 */
export async function startMooringController<R extends string>(role: R, o: SystemOptions, nodeFlags: readonly string[], extra: readonly string[]): Promise<ControllerProcess<R>> {
  const script = path.join(projectRoot(), "bin", "mooring.js");
  const env = { ...(await toolsPathEnv()), ...controllerEnv };
  const health = await freePort();
  const args = [...controllerNodeFlags, ...nodeFlags, script, "controllers", `--controllers=${role}`, `--kubeconfig=${o.kubeconfig}`, `--metrics-addr=127.0.0.1:${await freePort()}`, `--health-addr=127.0.0.1:${health}`, ...extra];
  return start(role, await controllerNode(), args, o, env, health, "/readyz");
}

export async function startMooring(o: SystemOptions): Promise<RunningSystem> {
  const storagePort = await freePort();
  const proc = (role: ControllerRole, extra: string[]) =>
    startMooringController(role, o, (o.nodeFlags ?? []).map((f) => f.replace("{role}", role)), [...eventsFlags(o, role), ...(o.controllerFlags ?? []), ...extra]);
  const controllers: ControllerProcess[] = [
    await proc("source", [`--storage-path=${path.join(o.dir, "storage")}`, `--storage-addr=127.0.0.1:${storagePort}`, `--storage-adv-addr=127.0.0.1:${storagePort}`]),
    await proc("kustomize", []),
  ];
  if (o.notification) controllers.push(await proc("notification", [`--receiverAddr=127.0.0.1:${o.notification.receiverPort}`]));
  return { controllers, stop: () => stopControllers(controllers) };
}

export interface FluxOptions extends SystemOptions {
  /** Flux's benchmark settings: kustomize-controller --concurrent=20 and higher apiserver QPS/burst. */
  tuned: boolean;
}

/** The tuned flags (Flux's defaults are --concurrent=4, --kube-api-qps=50, --kube-api-burst=300). */
export const fluxTunedFlags = ["--concurrent=20", "--kube-api-qps=500", "--kube-api-burst=1000"];

export async function startFlux(o: FluxOptions): Promise<RunningSystem> {
  // Flux's controllers are built on first use: only the benchmarks run them.
  const fluxTools = ["flux-source-controller", "flux-kustomize-controller", ...(o.notification ? ["flux-notification-controller"] : [])];
  await ensureTools({ only: fluxTools, progress: (line) => process.stderr.write(line + "\n") });
  const [sourceBin, kustomizeBin, notificationBin] = await Promise.all(fluxTools.map((t) => toolPath(t)));
  await mkdir(path.join(o.dir, "storage"), { recursive: true }); // Flux refuses a storage path that does not exist
  const env = await toolsPathEnv();
  const storagePort = await freePort();
  const common = async (role: ControllerRole) => {
    const health = await freePort();
    // Flux's binaries take the kubeconfig from KUBECONFIG (controller-runtime), not from a flag.
    const args = [`--metrics-addr=127.0.0.1:${await freePort()}`, `--health-addr=127.0.0.1:${health}`, "--enable-leader-election=false", "--watch-all-namespaces=true", "--log-level=info", ...eventsFlags(o, role)];
    return { args, health };
  };
  const src = await common("source");
  src.args.push(`--storage-path=${path.join(o.dir, "storage")}`, `--storage-addr=127.0.0.1:${storagePort}`, `--storage-adv-addr=127.0.0.1:${storagePort}`);
  const ks = await common("kustomize");
  if (o.tuned) ks.args.push(...fluxTunedFlags);
  const controllers: ControllerProcess[] = [
    start("source", sourceBin, src.args, o, { ...env, KUBECONFIG: o.kubeconfig, TMPDIR: o.dir }, src.health, "/readyz"),
    start("kustomize", kustomizeBin, ks.args, o, { ...env, KUBECONFIG: o.kubeconfig, TMPDIR: o.dir }, ks.health, "/readyz"),
  ];
  if (o.notification) {
    const nc = await common("notification");
    nc.args.push(`--receiverAddr=127.0.0.1:${o.notification.receiverPort}`);
    controllers.push(start("notification", notificationBin!, nc.args, o, { ...env, KUBECONFIG: o.kubeconfig, TMPDIR: o.dir }, nc.health, "/readyz"));
  }
  return { controllers, stop: () => stopControllers(controllers) };
}
