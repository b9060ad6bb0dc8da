// HelmRelease time to Ready: N HelmReleases created at once, each installing the four objects of Flux's own
// HelmRelease benchmark (Deployment with 0 replicas, ServiceAccount, Service, Ingress) from one OCI chart in a
// real registry (Debian's docker-registry, pushed with `helm push`), through one OCIRepository (chartRef).
// Mooring's source- and helm-controller against Flux's source-controller 1.7.3 and helm-controller 1.4.3, each
// run on its own fresh control plane (one kwok node) on the same machine. Seconds until all N are Ready,
// controller CPU (the helm-controller's includes its Helm helper) and peak RSS. `floor` is no controller: a loop
// sending per release the least a Helm controller must (helmfloor.ts): what the guarantees cost, for reference.
//
//   npm run bench -- helm [--n 100,500,1000] [--vs flux] [--systems mooring,flux,floor] [--timeout 1200] [--out dir] [--profile dir]
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KubeClient, loadKubeConfig, type KubeObject, type ResourceRef } from "../controllers/runtime/kube";
import { up, down } from "../local/controlplane";
import { freePort } from "../local/ports";
import { ensureTools, projectRoot, toolPath, toolsPathEnv } from "../local/tools";
import { startRegistry } from "../test/fixtures/registry/registry";
import { apply, installCrds, isReady, pool, refs, Tracker } from "./cluster";
import { cpuDelta, cpuWindow, hostDelta, readCpu, readHostCpu, readPeakRssMiB, type CpuTimes, type HostWindow } from "./procstat";
import { readApiserverCounts, requestDelta, watchDelta, type RequestSummary, type WatchSummary } from "./requests";
import { profileApiserver } from "./pprof";
import { helmReleases, loadFloorChart, runHelmFloor } from "./helmfloor";
import { controllersNodeVersion, exitOnSignal, startMooringController, killAll, onInterrupt, start, stopControllers, trackControlPlane, waitHealthy, type ControllerProcess } from "./systems";

const log = (line: string) => process.stderr.write(`[bench helm ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const loadavg = () => os.loadavg().map((v) => Math.round(v * 100) / 100);

const ociRepositories: ResourceRef = { kind: "OCIRepository", group: "source.toolkit.fluxcd.io", version: "v1", plural: "ocirepositories", namespaced: true };
const benchNamespace = "bench-helm";
const helmChartLayer = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

type HelmSystem = "mooring" | "flux" | "floor";
const helmSystems: readonly HelmSystem[] = ["mooring", "flux", "floor"];

export interface HelmArgs {
  ns: number[];
  systems: HelmSystem[];
  timeoutSeconds: number;
  out: string;
  /** Directory for CPU profiles of Mooring's helm-controller (Node) and its Helm helper (Go). */
  profile?: string;
}

export const helmUsage = "usage: npm run bench -- helm [--n 100,500,1000] [--vs flux] [--systems mooring,flux,floor] [--timeout 1200] [--out <dir>] [--profile <dir>]";

export function parseHelmArgs(argv: readonly string[], defaults: { out: string }): HelmArgs {
  const a: HelmArgs = { ns: [100], systems: ["mooring"], timeoutSeconds: 1200, out: defaults.out };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    const need = () => {
      if (value === undefined) throw new Error(`${flag} needs a value\n${helmUsage}`);
      i++;
      return value;
    };
    switch (flag) {
      case "--n":
        a.ns = need().split(",").map((v) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1) throw new Error(`--n takes positive integers, got ${JSON.stringify(v)}`);
          return n;
        });
        break;
      case "--vs":
        if (need() !== "flux") throw new Error(`--vs takes flux\n${helmUsage}`);
        a.systems = ["mooring", "flux"];
        break;
      case "--systems":
        a.systems = need().split(",").map((v) => {
          if (!helmSystems.includes(v as HelmSystem)) throw new Error(`--systems takes ${helmSystems.join(", ")}, got ${JSON.stringify(v)}`);
          return v as HelmSystem;
        });
        break;
      case "--timeout":
        a.timeoutSeconds = Number(need());
        if (!(a.timeoutSeconds > 0)) throw new Error("--timeout takes seconds > 0");
        break;
      case "--out":
        a.out = path.resolve(need());
        break;
      case "--profile":
        a.profile = path.resolve(need());
        break;
      default:
        throw new Error(`unknown flag ${flag}\n${helmUsage}`);
    }
  }
  return a;
}

export interface HelmRun {
  system: HelmSystem;
  n: number;
  seconds: number | null;
  ready: number;
  objects: number;
  cpuSeconds: Record<string, number | undefined>;
  /** CPU seconds of the rest of the control plane over the window: etcd, kube-controller-manager, kube-scheduler, kwok. */
  controlPlaneCpuSeconds?: Record<string, number | undefined>;
  /** The whole machine over the window: busy, idle and stolen CPU seconds (a busy host shows as steal). */
  host?: HostWindow;
  /** Watch events the apiserver sent over the window (to every watcher), by resource. */
  watchEvents?: WatchSummary;
  peakRssMiB: Record<string, number | undefined>;
  loadavg?: { before: number[]; after: number[] };
  /** The apiserver's requests over the window, by verb and resource. */
  requests?: RequestSummary;
  error?: string;
}

/** The pid of a process's first child (the helm-controller's Helm helper), from /proc. */
async function childPid(pid: number): Promise<number | undefined> {
  try {
    const text = await fs.readFile(`/proc/${pid}/task/${pid}/children`, "utf8");
    const first = text.trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/** Packages bench/charts/bench-app with the pinned helm and pushes it to the registry: oci://<host>/charts/bench-app:1.0.0. */
async function pushChart(registryHost: string, work: string): Promise<void> {
  const helm = await toolPath("helm");
  const env = { ...process.env, HELM_CACHE_HOME: `${work}/cache`, HELM_CONFIG_HOME: `${work}/config`, HELM_DATA_HOME: `${work}/data` };
  const run = (args: string[]) =>
    new Promise<string>((resolve, reject) => execFile(helm, args, { env }, (err, stdout, stderr) => (err ? reject(new Error(`helm ${args[0]}: ${stderr}`)) : resolve(stdout))));
  const out = await run(["package", path.join(projectRoot(), "bench", "charts", "bench-app"), "-d", work]);
  const tgz = /saved it to: (.+\.tgz)/.exec(out)?.[1]?.trim();
  if (!tgz) throw new Error(`helm package wrote no chart: ${out}`);
  await run(["push", tgz, `oci://${registryHost}/charts`, "--plain-http"]);
}


/** A helper wrapper that runs the pinned mooring-helm with a CPU profile written to <profileDir>/helper-<pid>.pprof. */
async function profilingHelper(dir: string, profileDir: string): Promise<string> {
  await fs.mkdir(profileDir, { recursive: true });
  const wrapper = path.join(dir, "mooring-helm-profiled");
  await fs.writeFile(wrapper, `#!/bin/sh\nexec ${JSON.stringify(await toolPath("mooring-helm"))} "--cpu-profile=${profileDir}/helper-$$.pprof" "$@"\n`, { mode: 0o755 });
  return wrapper;
}

async function startSystem(system: HelmSystem, kubeconfig: string, dir: string, profileDir?: string): Promise<ControllerProcess<"source" | "helm">[]> {
  const storagePort = await freePort();
  const storage = [`--storage-path=${path.join(dir, "storage")}`, `--storage-addr=127.0.0.1:${storagePort}`, `--storage-adv-addr=127.0.0.1:${storagePort}`];
  await fs.mkdir(path.join(dir, "storage"), { recursive: true });
  const o = { kubeconfig, dir };
  if (system === "mooring") {
    // The Helm helper is built from this tree's sources: a changed helper is a new build.
    await ensureTools({ only: ["mooring-helm"], progress: (line) => process.stderr.write(line + "\n") });
    const profiling = profileDir ? { flags: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`], helper: [`--helm-helper-path=${await profilingHelper(dir, profileDir)}`] } : { flags: [], helper: [] };
    return [await startMooringController("source", o, [], storage), await startMooringController("helm", o, profiling.flags, profiling.helper)];
  }
  const tools = ["flux-source-controller", "flux-helm-controller"];
  await ensureTools({ only: tools, progress: (line) => process.stderr.write(line + "\n") });
  const [sourceBin, helmBin] = await Promise.all(tools.map((t) => toolPath(t)));
  const env = { ...(await toolsPathEnv()), KUBECONFIG: kubeconfig, TMPDIR: dir };
  const proc = async (role: "source" | "helm", bin: string, extra: string[]) => {
    const health = await freePort();
    const args = [`--metrics-addr=127.0.0.1:${await freePort()}`, `--health-addr=127.0.0.1:${health}`, "--enable-leader-election=false", "--watch-all-namespaces=true", "--log-level=info", ...extra];
    return start(role, bin, args, o, env, health, "/readyz");
  };
  // helm-controller as Flux's benchmark tunes it (its defaults: --concurrent=4, --kube-api-qps=50, --kube-api-burst=300).
  return [await proc("source", sourceBin!, storage), await proc("helm", helmBin!, ["--concurrent=20", "--kube-api-qps=500", "--kube-api-burst=1000"])];
}

/** The values every bench HelmRelease sets. */
const releaseValues = { replicaCount: 0 };

function helmRelease(i: number): KubeObject {
  const name = `app-${String(i).padStart(4, "0")}`;
  return {
    apiVersion: "helm.toolkit.fluxcd.io/v2",
    kind: "HelmRelease",
    metadata: { name, namespace: benchNamespace },
    spec: { interval: "10m", chartRef: { kind: "OCIRepository", name: "bench-app" }, values: releaseValues },
  } as KubeObject;
}

async function runOne(a: HelmArgs, system: HelmSystem, n: number): Promise<HelmRun> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `mooring-bench-helm-${system}-${n}-`));
  const cpDir = path.join(dir, "cp");
  const untrack = trackControlPlane(cpDir);
  const run: HelmRun = { system, n, seconds: null, ready: 0, objects: 0, cpuSeconds: {}, peakRssMiB: {} };
  const loadBefore = loadavg();
  const registry = await startRegistry(path.join(dir, "registry"));
  const registryStopped = onInterrupt(() => registry.close());
  const stop = new AbortController();
  let controllers: ControllerProcess<"source" | "helm">[] = [];
  const peaks = new Map<number, number>();
  const samplePeaks = async () => {
    for (const c of controllers) {
      for (const pid of [c.pid, await childPid(c.pid)]) {
        if (pid === undefined) continue;
        const rss = await readPeakRssMiB(pid);
        if (rss !== undefined) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, rss));
      }
    }
  };
  try {
    await pushChart(registry.host, path.join(dir, "helm"));
    log(`${system} N=${n}: control plane up (${cpDir})`);
    const cp = await up({ dir: cpDir, nodes: 1, realNode: false, timeoutMs: 180_000, profiling: a.profile !== undefined });
    const client = new KubeClient(await loadKubeConfig(cp.kubeconfigPath));
    const apiserverPid = cp.components.find((x) => x.name === "kube-apiserver")!.pid;
    await installCrds(client, system === "flux");
    for (const ns of [benchNamespace, "flux-system"]) await apply(client, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, "mooring-bench");
    const floor = system === "floor";
    controllers = floor ? [] : await startSystem(system, cp.kubeconfigPath, dir, a.profile);
    await waitHealthy(controllers);
    const ready = new Tracker<KubeObject>(client, helmReleases, isReady);
    const owned = (o: KubeObject) => o.metadata.namespace === benchNamespace && o.metadata.labels?.["app.kubernetes.io/managed-by"] === "Helm";
    const objects = [refs.deployment, refs.serviceAccount, refs.service, refs.ingress].map((r) => new Tracker<KubeObject>(client, r, owned));
    const source = new Tracker<KubeObject>(client, ociRepositories, isReady);
    for (const t of [ready, source, ...objects]) void t.informer.run(stop.signal);
    await Promise.all([ready, source, ...objects].map((t) => t.informer.waitForSync(stop.signal)));
    const floorChart = floor ? await loadFloorChart(path.join(projectRoot(), "bench", "charts", "bench-app"), releaseValues) : undefined;
    if (!floor) await client.apply(
      ociRepositories,
      {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "OCIRepository",
        metadata: { name: "bench-app", namespace: benchNamespace },
        spec: { interval: "10m", url: `oci://${registry.host}/charts/bench-app`, ref: { tag: "1.0.0" }, insecure: true, layerSelector: { mediaType: helmChartLayer, operation: "copy" } },
      } as KubeObject,
      "mooring-bench",
    );
    if (!floor && !(await source.waitForCount(1, AbortSignal.timeout(120_000)))) throw new Error(`OCIRepository not Ready after 120s; see ${controllers[0]!.log}`);
    log(`${system} N=${n}: ${floor ? "chart rendered" : "controllers healthy, OCIRepository Ready"}`);

    const cpu0 = new Map<string, CpuTimes | undefined>();
    for (const c of controllers) cpu0.set(c.role, await readCpu(c.pid));
    const api0 = await readCpu(apiserverPid);
    const restOfControlPlane = await cpuWindow(cp.components.filter((x) => x.name !== "kube-apiserver"));
    const host0 = await readHostCpu();
    const helmPid = controllers.find((c) => c.role === "helm")?.pid;
    const benchCpu0 = process.cpuUsage();
    const counts0 = await readApiserverCounts(client);
    const apiserverProfile = a.profile ? profileApiserver(cp.kubeconfigPath, path.join(a.profile, `apiserver-${system}-${n}.pprof`), 60, log) : undefined;
    const t0 = performance.now();
    const deadline = AbortSignal.timeout(a.timeoutSeconds * 1000);
    // The floor's loop creates its HelmReleases itself and runs while the trackers count.
    const loop = floorChart
      ? runHelmFloor(client, n, { namespace: benchNamespace, limit: 64, helmRelease, chart: floorChart, signal: deadline })
      : pool(Array.from({ length: n }, (_, i) => i + 1), 32, (i) => client.create(helmReleases, benchNamespace, helmRelease(i)).then(() => undefined));
    if (!floor) {
      await loop;
      log(`${system} N=${n}: ${n} HelmReleases created in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    }
    const progress = setInterval(() => {
      void samplePeaks();
      log(`${system} N=${n}: ${ready.count} Ready, ${objects.reduce((s, t) => s + t.count, 0)} objects`);
    }, 5_000);
    try {
      await Promise.all([loop, ready.waitForCount(n, deadline), ...objects.map((t) => t.waitForCount(n, deadline))]);
    } finally {
      clearInterval(progress);
    }
    const elapsed = (performance.now() - t0) / 1000;
    run.ready = ready.count;
    run.objects = objects.reduce((s, t) => s + t.count, 0);
    const done = run.ready >= n && objects.every((t) => t.count >= n);
    run.seconds = done ? Math.round(elapsed * 10) / 10 : null;
    if (!done) run.error = `deadline ${a.timeoutSeconds}s`;
    await samplePeaks();
    for (const c of controllers) {
      const after = await readCpu(c.pid);
      run.cpuSeconds[`${c.role}-controller`] = cpuDelta(cpu0.get(c.role), after);
    }
    // The floor's loop is this process (with the trackers counting what is Ready).
    if (floor) {
      const u = process.cpuUsage(benchCpu0);
      run.cpuSeconds["floor loop"] = Math.round((u.user + u.system) / 1e4) / 100;
    }
    // Mooring's helm-controller runs Helm in its helper (a child process not yet reaped): counted with it.
    const helper = system === "mooring" && helmPid !== undefined ? await childPid(helmPid) : undefined;
    if (helper !== undefined) {
      const h = await readCpu(helper);
      if (h) run.cpuSeconds["helm-controller"] = Math.round(((run.cpuSeconds["helm-controller"] ?? 0) + h.self) * 100) / 100;
      run.peakRssMiB["helm helper"] = Math.round(peaks.get(helper) ?? 0);
    }
    run.cpuSeconds.apiserver = cpuDelta(api0, await readCpu(apiserverPid));
    run.controlPlaneCpuSeconds = await restOfControlPlane();
    run.host = hostDelta(host0, await readHostCpu());
    const counts1 = await readApiserverCounts(client);
    run.requests = requestDelta(counts0.requests, counts1.requests);
    run.watchEvents = watchDelta(counts0.watches, counts1.watches);
    await apiserverProfile;
    for (const c of controllers) run.peakRssMiB[`${c.role}-controller`] = Math.round(peaks.get(c.pid) ?? 0);
    log(`${system} N=${n}: ${done ? `all Ready in ${run.seconds}s` : `NOT done (${run.ready} Ready, ${run.objects} objects)`}`);
  } catch (err) {
    run.error = (err as Error).message.split("\n")[0];
    log(`${system} N=${n}: FAILED: ${(err as Error).message}`);
  } finally {
    stop.abort();
    await stopControllers(controllers);
    await down({ dir: cpDir }).catch((err: unknown) => log(`down ${cpDir}: ${(err as Error).message}`));
    untrack();
    await registry.close();
    registryStopped();
    if (!process.env.BENCH_KEEP) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    else log(`kept ${dir}`);
  }
  return { ...run, loadavg: { before: loadBefore, after: loadavg() } };
}

export interface HelmResults {
  machine: Record<string, unknown>;
  runs: HelmRun[];
}

export function renderHelmReport(r: HelmResults): string {
  const rows = [...r.runs].sort((x, y) => x.n - y.n || x.system.localeCompare(y.system));
  const cell = (v: number | undefined) => (v === undefined ? "–" : String(v));
  const ratio = (run: HelmRun, to: HelmSystem, inverse: boolean) => {
    const other = r.runs.find((x) => x.system === to && x.n === run.n);
    if (run.system === to || !run.seconds || !other?.seconds) return "";
    return `${(inverse ? other.seconds / run.seconds : run.seconds / other.seconds).toFixed(1)}×`;
  };
  const restOfControlPlane = (run: HelmRun) =>
    run.controlPlaneCpuSeconds ? String(Math.round(Object.values(run.controlPlaneCpuSeconds).reduce<number>((a, b) => a + (b ?? 0), 0) * 10) / 10) : "–";
  const controllerCpu = (run: HelmRun) => (run.cpuSeconds["floor loop"] !== undefined ? `${run.cpuSeconds["floor loop"]} (loop)` : cell(run.cpuSeconds["helm-controller"]));
  return [
    "# HelmReleases to Ready",
    "",
    `Measured ${String(r.machine.date)} on ${String(r.machine.cpus)} cores (${String(r.machine.cpuModel)}), Mooring's controllers on Node.js ${String(r.machine.controllersNode ?? r.machine.node)}. ` +
      "One OCIRepository (the bench-app chart pushed with `helm push` to Debian's docker-registry on loopback); N HelmReleases created at once with chartRef to it, " +
      "each installing a Deployment with 0 replicas, a ServiceAccount, a Service and an Ingress (Helm's wait on). Seconds from creation until all N are Ready and all 4N objects exist. " +
      "CPU seconds over that window (the rest of the control plane: etcd, kube-controller-manager, kube-scheduler, kwok); Mooring's helm-controller CPU includes its Helm helper process. Peak RSS is VmHWM sampled every 5 s. Host steal is the CPU time the hypervisor gave to other guests while this machine had work. Each run has its own fresh control plane with one kwok node. " +
      "Flux: source-controller 1.7.3 and helm-controller 1.4.3 built from their Go modules, out of cluster, helm-controller with --concurrent=20 --kube-api-qps=500 --kube-api-burst=1000. " +
      "`floor` is no controller but a loop (64 releases in flight, `bench/helmfloor.ts`) sending per release the least a controller keeping Flux's and Helm's guarantees must: " +
      "create the HelmRelease, add its finalizer, list the release's storage, write the release pending-install, create the 4 objects, wait for the Deployment's ReplicaSet (one shared watch), " +
      "mark the release deployed, write the status. Its CPU is the bench process's.",
    "",
    "| system | N | seconds | vs Flux | ÷ floor | Ready | objects | helm-controller CPU s | source-controller CPU s | apiserver CPU s | rest of the control plane CPU s | helm-controller peak RSS MiB | of it helper MiB | source-controller peak RSS MiB | host steal s | error |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rows.map(
      (x) =>
        `| ${x.system} | ${x.n} | ${x.seconds ?? "–"} | ${ratio(x, "flux", true)} | ${ratio(x, "floor", false)} | ${x.ready} | ${x.objects} | ${controllerCpu(x)} | ${cell(x.cpuSeconds["source-controller"])} | ${cell(x.cpuSeconds.apiserver)} | ${restOfControlPlane(x)} | ` +
        `${x.peakRssMiB["helm-controller"] !== undefined ? x.peakRssMiB["helm-controller"]! + (x.peakRssMiB["helm helper"] ?? 0) : "–"} | ${cell(x.peakRssMiB["helm helper"])} | ${cell(x.peakRssMiB["source-controller"])} | ${cell(x.host?.stealSeconds)} | ${x.error ?? ""} |`,
    ),
    "",
    "Mooring's helm-controller peak RSS is the Node process plus its helper. Raw numbers: the JSON file next to this one. Reproduce: `npm run bench -- helm --n 100,500,1000 --vs flux`.",
    "",
  ].join("\n");
}

export async function helmBench(argv: string[]): Promise<number> {
  const a = parseHelmArgs(argv, { out: path.join(projectRoot(), "bench", "results") });
  exitOnSignal(log);
  const date = new Date().toISOString().slice(0, 10);
  const jsonFile = path.join(a.out, `${date}-helm.json`);
  let results: HelmResults = { machine: {}, runs: [] };
  try {
    results = JSON.parse(await fs.readFile(jsonFile, "utf8")) as HelmResults;
  } catch {
    // first run of the day
  }
  try {
    for (const n of a.ns) {
      for (const system of a.systems) {
        const run = await runOne(a, system, n);
        results.runs = [...results.runs.filter((r) => !(r.system === run.system && r.n === run.n)), run];
        results.machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, controllersNode: controllersNodeVersion(), loadavg: loadavg(), date: new Date().toISOString() };
        await fs.mkdir(a.out, { recursive: true });
        await fs.writeFile(jsonFile, JSON.stringify(results, null, 2) + "\n");
        await fs.writeFile(path.join(a.out, `${date}-helm.md`), renderHelmReport(results));
      }
    }
  } finally {
    killAll();
  }
  process.stdout.write(renderHelmReport(results));
  return results.runs.some((r) => r.seconds === null && a.ns.includes(r.n) && a.systems.includes(r.system)) ? 1 : 0;
}
