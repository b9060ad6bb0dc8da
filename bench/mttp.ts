// Mean time to production: N Kustomizations created at once against one GitRepository, until all are
// Ready and all 4N objects exist — for Mooring, Flux (defaults), Flux tuned, the floor (a plain SSA loop)
// and floor-gitops (a loop sending what a controller must at the least: gitopsfloor.ts), each on a fresh
// local control plane with one kwok node. Plus drift-revert and commit→applied
// latency for Mooring and Flux. Writes bench/results/<date>-mttp.{json,md}.
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import { KubeClient, type KubeObject } from "../controllers/runtime/kube";
import { loadKubeConfig } from "../controllers/runtime/kube";
import { up, down, type ControlPlane } from "../local/controlplane";
import { projectRoot } from "../local/tools";
import { parseMttpArgs, type MttpArgs } from "./args";
import { apply, installCrds, isReady, pool, refs, Tracker } from "./cluster";
import { BenchRepo, gitCredentials } from "./gitrepo";
import { calibrate, cpuDelta, cpuWindow, hostDelta, readCpu, readHostCpu, type CpuTimes } from "./procstat";
import { readApiserverCounts, requestDelta, watchDelta } from "./requests";
import { profileApiserver } from "./pprof";
import { createAlert, startAlertSink, type AlertSink } from "./alertsink";
import { freePort } from "../local/ports";
import { summarize, type LatencySummary } from "./stats";
import { controllersNodeVersion, exitOnSignal, killAll, startFlux, startMooring, trackControlPlane, waitHealthy, type RunningSystem } from "./systems";
import { isLoop, renderTable, type Run, type SystemName } from "./table";
import { runGitopsFloor } from "./gitopsfloor";
import * as w from "./workload";

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadavg = () => os.loadavg().map((v) => Math.round(v * 100) / 100);


interface LatencyResults {
  drift: Partial<Record<SystemName, LatencySummary & { n: number; note: string }>>;
  commitToApplied: Partial<Record<SystemName, LatencySummary & { n: number; note: string }>>;
}

interface Trackers {
  kustomizations: Tracker<KubeObject>;
  objects: Tracker<KubeObject>[];
  deployments: Tracker<KubeObject>;
  stop: AbortController;
}

const owned = (o: KubeObject) => o.metadata.labels?.["kustomize.toolkit.fluxcd.io/name"] !== undefined;

async function startTrackers(client: KubeClient): Promise<Trackers> {
  const stop = new AbortController();
  const deployments = new Tracker<KubeObject>(client, refs.deployment, owned);
  const objects = [deployments, ...[refs.serviceAccount, refs.service, refs.ingress].map((r) => new Tracker<KubeObject>(client, r, owned))];
  const kustomizations = new Tracker<KubeObject>(client, refs.kustomization, (o) => isReady(o));
  for (const t of [kustomizations, ...objects]) void t.informer.run(stop.signal);
  await Promise.all([kustomizations, ...objects].map((t) => t.informer.waitForSync(stop.signal)));
  return { kustomizations, objects, deployments, stop };
}


async function setupCluster(client: KubeClient, n: number, forFlux: boolean): Promise<void> {
  await installCrds(client, forFlux);
  await apply(client, { apiVersion: "v1", kind: "Namespace", metadata: { name: w.sourceNamespace } }, "mooring-bench");
  await apply(
    client,
    { apiVersion: "v1", kind: "Secret", metadata: { name: "bench-git", namespace: w.sourceNamespace }, stringData: gitCredentials } as KubeObject,
    "mooring-bench",
  );
  const indices = Array.from({ length: n }, (_, i) => i + 1);
  await pool(indices, 32, (i) => apply(client, w.appNamespace(i), "mooring-bench").then(() => undefined));
  await namespacesSettled(client, n);
}

/**
 * kube-controller-manager gives every new namespace a default ServiceAccount and the kube-root-ca.crt
 * ConfigMap, at its own 20 requests/s: at N=1000 that is ~100 s of background writes. Wait for them, so a
 * run measures the system under test and not the control plane catching up with the setup.
 */
async function namespacesSettled(client: KubeClient, n: number): Promise<void> {
  const started = Date.now();
  const deadline = started + 600_000;
  const count = async (ref: typeof refs.serviceAccount, name: string) =>
    (await client.list<KubeObject>(ref, undefined, { query: { fieldSelector: `metadata.name=${name}`, limit: 5000 } })).items.filter((o) => o.metadata.namespace?.startsWith(w.appPrefix)).length;
  for (;;) {
    const [accounts, configMaps] = await Promise.all([count(refs.serviceAccount, "default"), count(refs.configMap, "kube-root-ca.crt")]);
    if (accounts >= n && configMaps >= n) break;
    if (Date.now() > deadline) throw new Error(`namespaces not settled after 600s (${accounts}/${n} default ServiceAccounts, ${configMaps}/${n} kube-root-ca.crt)`);
    await sleep(1_000);
  }
  log(`N=${n}: app namespaces settled in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(100);
  }
}

/** Drift: scale 20 managed Deployments (staggered by 1 s), time until each is back at 0 replicas. */
async function measureDrift(client: KubeClient, t: Trackers, n: number): Promise<LatencySummary> {
  const count = Math.min(20, n);
  const apps = Array.from({ length: count }, (_, i) => i + 1);
  // Flux corrects drift only at spec.interval: give the sampled Kustomizations 1m (and wait for it to apply).
  await pool(apps, 8, async (i) => {
    await client.patch(refs.kustomization, w.sourceNamespace, w.appName(i), { spec: { interval: "1m" } });
  });
  await waitUntil(() => apps.every((i) => {
    const k = t.kustomizations.informer.get(`${w.sourceNamespace}/${w.appName(i)}`);
    return k !== undefined && isReady(k) && (k as { spec?: { interval?: string } } & KubeObject).spec?.interval === "1m";
  }), 180_000, "sampled Kustomizations Ready with interval 1m");
  const seconds: number[] = [];
  let timedOut = 0;
  await Promise.all(apps.map(async (i, k) => {
    await sleep(k * 1000);
    const ns = w.appName(i);
    let patchedRv = Infinity;
    let revertedAt: number | undefined;
    const reverted = new Promise<void>((resolve) => {
      const off = t.deployments.onChange((d) => {
        const spec = (d as KubeObject & { spec?: { replicas?: number } }).spec;
        if (d.metadata.namespace === ns && Number(d.metadata.resourceVersion) > patchedRv && spec?.replicas === 0) {
          revertedAt ??= performance.now();
          off();
          resolve();
        }
      });
    });
    const started = performance.now();
    const patched = await client.patch<KubeObject>(refs.deployment, ns, "app", { spec: { replicas: 3 } }, { query: { fieldManager: "bench-drift" } });
    patchedRv = Number(patched.metadata.resourceVersion);
    const timeout = sleep(150_000);
    await Promise.race([reverted, timeout]);
    if (revertedAt === undefined) timedOut++;
    else seconds.push((revertedAt - started) / 1000);
  }));
  return summarize(seconds, timedOut);
}

/** Commit → applied: with a 10 s GitRepository interval, commit an annotation change to app 1 five times. */
async function measureCommitToApplied(client: KubeClient, t: Trackers, repo: BenchRepo): Promise<LatencySummary> {
  await client.patch(refs.gitRepository, w.sourceNamespace, w.sourceName, { spec: { interval: "10s" } });
  await sleep(2_000);
  const seconds: number[] = [];
  let timedOut = 0;
  const base = w.appObjects(1)["deployment.yaml"]!;
  for (let k = 1; k <= 5; k++) {
    const mark = `${Date.now()}-${k}`;
    const seen = new Promise<number>((resolve) => {
      const off = t.deployments.onChange((d) => {
        if (d.metadata.namespace === w.appName(1) && d.metadata.annotations?.["bench.mooring.dev/commit"] === mark) {
          off();
          resolve(performance.now());
        }
      });
    });
    const doc = { ...base, metadata: { ...base.metadata, annotations: { "bench.mooring.dev/commit": mark } } };
    const started = performance.now();
    await repo.commit({ [`apps/${w.appName(1)}/deployment.yaml`]: stringify(doc, { aliasDuplicateObjects: false }) }, `commit ${k}`);
    const at = await Promise.race([seen, sleep(90_000).then(() => undefined)]);
    if (at === undefined) timedOut++;
    else seconds.push((at - started) / 1000);
    // Land the next commit at a different point of the 10 s fetch cycle.
    await sleep(1_000 + Math.floor(Math.random() * 4_000));
  }
  return summarize(seconds, timedOut);
}

/**
 * Node flags for Mooring's processes: CPU profiles with --profile; BENCH_NODE_FLAGS for experiments (e.g. --heap-prof).
 * BENCH_CONTROLLER_FLAGS adds controller flags (e.g. --concurrent=4), also for experiments.
 */
function mooringNodeFlags(c: RunContext): string[] {
  const flags = c.args.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${path.join(c.args.profileDir, `${c.n}-{role}`)}`] : [];
  return [...flags, ...(process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean)];
}

interface RunContext {
  args: MttpArgs;
  system: SystemName;
  n: number;
  repo: BenchRepo;
  repoUrl: string;
  latency: boolean;
}

async function runOne(c: RunContext, latency: LatencyResults): Promise<Run> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `mooring-bench-${c.system}-${c.n}-`));
  const cpDir = path.join(dir, "cp");
  const untrack = trackControlPlane(cpDir);
  let system: RunningSystem | undefined;
  let trackers: Trackers | undefined;
  let sink: AlertSink | undefined;
  const run: Run = { system: c.system, n: c.n, seconds: null, peakRssMiB: {}, cpuSeconds: {} };
  const loadBefore = loadavg();
  try {
    log(`${c.system} N=${c.n}: control plane up (${cpDir})`);
    const cp: ControlPlane = await up({ dir: cpDir, nodes: 1, realNode: false, timeoutMs: 180_000, profiling: c.args.profileDir !== undefined });
    const client = new KubeClient(await loadKubeConfig(cp.kubeconfigPath));
    const apiserverPid = cp.components.find((x) => x.name === "kube-apiserver")!.pid;
    await setupCluster(client, c.n, c.system.startsWith("flux"));
    trackers = await startTrackers(client);
    const deadline = AbortSignal.timeout(c.args.timeoutSeconds * 1000);
    const objectsDone = () => Promise.all(trackers!.objects.map((t) => t.waitForCount(c.n, deadline)));

    if (!isLoop(c.system)) {
      const o = { kubeconfig: cp.kubeconfigPath, dir };
      if (c.system === "mooring-alert") sink = await startAlertSink();
      const notification = sink ? { notification: { receiverPort: await freePort(), eventsPort: await freePort() } } : {};
      system =
        c.system === "mooring" || c.system === "mooring-alert"
          ? await startMooring({ ...o, ...notification, nodeFlags: mooringNodeFlags(c), controllerFlags: (process.env.BENCH_CONTROLLER_FLAGS ?? "").split(" ").filter(Boolean) })
          : await startFlux({ ...o, tuned: c.system === "flux-tuned" });
      await waitHealthy(system.controllers);
      await apply(client, w.gitRepository(c.repoUrl, "bench-git", "10m"), "mooring-bench");
      const src = new Tracker<KubeObject>(client, refs.gitRepository, isReady);
      const srcStop = new AbortController();
      void src.informer.run(srcStop.signal);
      const ok = await src.waitForCount(1, AbortSignal.timeout(120_000));
      srcStop.abort();
      if (!ok) throw new Error(`GitRepository not Ready after 120s; see ${system.controllers[0]!.log}`);
      if (sink) await createAlert(client, w.sourceNamespace, sink.url);
      log(`${c.system} N=${c.n}: controllers healthy, GitRepository Ready`);
    }

    const procs = system?.controllers ?? [];
    const cpu0 = new Map<string, CpuTimes | undefined>();
    for (const p of procs) cpu0.set(p.role, await readCpu(p.pid));
    const api0 = await readCpu(apiserverPid);
    const restOfControlPlane = await cpuWindow(cp.components.filter((x) => x.name !== "kube-apiserver"));
    const host0 = await readHostCpu();
    const counts0 = await readApiserverCounts(client);
    const apiserverProfile = c.args.profileDir ? fs.mkdir(c.args.profileDir, { recursive: true }).then(() => profileApiserver(cp.kubeconfigPath, path.join(c.args.profileDir!, `apiserver-${c.system}-${c.n}.pprof`), 30, log)) : undefined;
    const calibrationBefore = calibrate();
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    if (c.system === "floor") {
      const objects = Array.from({ length: c.n }, (_, i) => w.floorObjects(i + 1)).flat();
      await pool(objects, 64, (obj) => apply(client, obj, "bench-floor").then(() => undefined));
      await objectsDone();
    } else if (c.system === "floor-gitops") {
      await runGitopsFloor(client, c.n, 64, `main@sha1:${await c.repo.head()}`);
      await Promise.all([trackers.kustomizations.waitForCount(c.n, deadline), objectsDone()]);
    } else {
      const indices = Array.from({ length: c.n }, (_, i) => i + 1);
      await pool(indices, 32, (i) => client.create(refs.kustomization, w.sourceNamespace, w.kustomization(i, { interval: "10m" })).then(() => undefined));
      log(`${c.system} N=${c.n}: ${c.n} Kustomizations created in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      const progress = setInterval(() => log(`${c.system} N=${c.n}: ${trackers!.kustomizations.count} Ready, ${trackers!.objects.reduce((s, t) => s + t.count, 0)} objects`), 10_000);
      try {
        await Promise.all([trackers.kustomizations.waitForCount(c.n, deadline), objectsDone()]);
      } finally {
        clearInterval(progress);
      }
    }
    const done = trackers.kustomizations.count >= (c.system === "floor" ? 0 : c.n) && trackers.objects.every((t) => t.count >= c.n);
    const elapsed = (performance.now() - t0) / 1000;
    run.seconds = done ? Math.round(elapsed * 10) / 10 : null;
    run.ready = c.system === "floor" ? undefined : trackers.kustomizations.count;
    run.objects = trackers.objects.reduce((s, t) => s + t.count, 0);
    if (!done) run.error = `deadline ${c.args.timeoutSeconds}s`;
    for (const p of procs) run.cpuSeconds[p.role] = cpuDelta(cpu0.get(p.role), await readCpu(p.pid));
    run.cpuSeconds.apiserver = cpuDelta(api0, await readCpu(apiserverPid));
    run.cpuSeconds.controlPlane = await restOfControlPlane();
    run.host = hostDelta(host0, await readHostCpu());
    if (run.host) run.host.calibrationMs = [calibrationBefore, calibrate()];
    const counts1 = await readApiserverCounts(client);
    run.requests = requestDelta(counts0.requests, counts1.requests);
    run.watchEvents = watchDelta(counts0.watches, counts1.watches);
    await apiserverProfile;
    const u = process.cpuUsage(self0);
    // The floors' loops are this process; for the others it is the trackers counting what is Ready.
    run.cpuSeconds[isLoop(c.system) ? "floor" : "bench"] = Math.round((u.user + u.system) / 1e4) / 100;
    log(`${c.system} N=${c.n}: ${done ? `all Ready in ${run.seconds}s` : `NOT done (${run.ready} Ready, ${run.objects} objects)`}`);
    if (sink) {
      await sink.waitForKustomizations(c.n, 120_000);
      run.alert = sink.delivery(t0);
      log(`${c.system} N=${c.n}: Alert delivered the success events of ${run.alert.kustomizations} Kustomizations (${run.alert.events} events)`);
    }

    if (done && c.latency && (c.system === "mooring" || c.system === "flux")) {
      log(`${c.system} N=${c.n}: drift-revert latency (20 samples)`);
      latency.drift[c.system] = { n: c.n, note: "20 Deployments scaled to 3 (merge patch, another field manager), staggered by 1 s; their Kustomizations' interval set to 1m first", ...(await measureDrift(client, trackers, c.n)) };
      log(`${c.system}: drift median ${latency.drift[c.system]!.medianSeconds}s p95 ${latency.drift[c.system]!.p95Seconds}s`);
      log(`${c.system} N=${c.n}: commit → applied latency (5 commits, GitRepository interval 10s)`);
      latency.commitToApplied[c.system] = { n: c.n, note: "annotation change to apps/app-0001/deployment.yaml pushed; time until the Deployment carries it", ...(await measureCommitToApplied(client, trackers, c.repo)) };
      log(`${c.system}: commit→applied median ${latency.commitToApplied[c.system]!.medianSeconds}s`);
    }
  } catch (err) {
    run.error = (err as Error).message.split("\n")[0];
    log(`${c.system} N=${c.n}: FAILED: ${(err as Error).message}`);
  } finally {
    trackers?.stop.abort();
    if (system) {
      await system.stop();
      for (const p of system.controllers) run.peakRssMiB[p.role] = p.peakRssMiB === undefined ? undefined : Math.round(p.peakRssMiB);
    }
    await sink?.close();
    await down({ dir: cpDir }).catch((err: unknown) => log(`down ${cpDir}: ${(err as Error).message}`));
    untrack();
    if (!process.env.BENCH_KEEP) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    else log(`kept ${dir}`);
  }
  return { ...run, loadavg: { before: loadBefore, after: loadavg() } };
}

export interface Results {
  machine: Record<string, unknown>;
  runs: Run[];
  drift: LatencyResults["drift"];
  commitToApplied: LatencyResults["commitToApplied"];
}

async function readPrevious(file: string): Promise<Results | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as Results;
  } catch {
    return undefined;
  }
}

function machine(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    controllersNode: controllersNodeVersion(),
    loadavg: loadavg(),
    date: new Date().toISOString(),
    controlPlane: "local: etcd 3.6.6, kube-apiserver/controller-manager/scheduler 1.34.4, kwok 0.7.0 (1 fake node)",
    flux: "source-controller 1.7.3, kustomize-controller 1.7.3 (Flux 2.7), out of cluster",
  };
}

/** The markdown report: the table plus the latency results and the conditions. */
export function renderReport(r: Results): string {
  const lat = (name: string, m: LatencyResults["drift"]) =>
    Object.entries(m)
      .map(([sys, s]) => `| ${name} | ${sys} | ${s!.n} | ${s!.medianSeconds ?? "–"} | ${s!.p95Seconds ?? "–"} | ${s!.samples - s!.timedOut}/${s!.samples} |`)
      .join("\n");
  return [
    "# Mean time to production (MTTP)",
    "",
    `Measured ${String(r.machine.date)} on ${String(r.machine.cpus)} cores (${String(r.machine.cpuModel)}), load average at the end ${JSON.stringify(r.machine.loadavg)}; Mooring's controllers on Node.js ${String(r.machine.controllersNode ?? r.machine.node)}, the bench and its floor loops on ${String(r.machine.node)}. `,
    "One GitRepository holding N app directories (Deployment with 0 replicas, ServiceAccount, headless Service, Ingress, each app in its own namespace); N Kustomizations created at once. " +
      "Seconds from creation until all N are Ready and all 4N objects exist. CPU seconds are over that window; peak RSS is VmHWM; host steal is the CPU time the hypervisor gave to other guests while this machine had work (a busy host); the speed probe is the best of five SHA-256 passes over 32 MiB in the bench process right before and after the window (higher is a slower machine). Each run has its own fresh control plane. " +
      "`floor` is a plain server-side-apply loop (64 in flight) of the same 4N objects. " +
      "`floor-gitops` is a loop (64 apps in flight) sending per app the least a controller keeping Flux's guarantees must: create the Kustomization, add its finalizer, dry-run 3 objects, apply 4, write its status.",
    "",
    renderTable(r.runs),
    // Runs with --no-latency have no latency rows: no empty table then.
    ...(Object.keys(r.drift).length + Object.keys(r.commitToApplied).length
      ? ["| latency | system | N | median s | p95 s | observed |", "| --- | --- | ---: | ---: | ---: | ---: |", lat("drift revert", r.drift), lat("commit → applied", r.commitToApplied), ""]
      : []),
    "Raw numbers: the JSON file next to this one. Reproduce: `npm run bench -- mttp --n 100,500,1000 --vs flux`.",
    "",
  ].join("\n");
}

export async function mttp(argv: string[]): Promise<number> {
  const args = parseMttpArgs(argv, { out: path.join(projectRoot(), "bench", "results") });
  exitOnSignal(log);
  const date = new Date().toISOString().slice(0, 10);
  const jsonFile = path.join(args.out, `${date}-mttp.json`);
  const results: Results = (await readPrevious(jsonFile)) ?? { machine: {}, runs: [], drift: {}, commitToApplied: {} };
  const latency: LatencyResults = { drift: results.drift ?? {}, commitToApplied: results.commitToApplied ?? {} };
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-bench-repo-"));
  try {
    for (const n of args.ns) {
      log(`N=${n}: writing the fleet repository (${n} apps, ${n * w.objectsPerApp} objects)`);
      const repo = await BenchRepo.create(path.join(work, String(n)), w.repositoryFiles(n));
      const repoUrl = await repo.serve();
      try {
        for (const system of args.systems) {
          const run = await runOne({ args, system, n, repo, repoUrl, latency: args.latency && n === args.ns[0] }, latency);
          results.runs = [...results.runs.filter((r) => !(r.system === run.system && r.n === run.n)), run];
          results.machine = machine();
          results.drift = latency.drift;
          results.commitToApplied = latency.commitToApplied;
          await fs.mkdir(args.out, { recursive: true });
          await fs.writeFile(jsonFile, JSON.stringify(results, null, 2) + "\n");
          await fs.writeFile(path.join(args.out, `${date}-mttp.md`), renderReport(results));
        }
      } finally {
        await repo.close();
      }
    }
  } finally {
    killAll();
    await fs.rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
  process.stdout.write(renderTable(results.runs));
  log(`results: ${jsonFile}`);
  return results.runs.some((r) => r.seconds === null && args.ns.includes(r.n) && args.systems.includes(r.system)) ? 1 : 0;
}
