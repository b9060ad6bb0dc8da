// Kustomization scale: seconds from creation to Ready for 1 Kustomization (three times, one after the other)
// and for 100 created at once (each its own small path: 4 objects in its own namespace), with the
// kustomize-controller's resident memory. Starts its own control plane (1 kwok node) and always tears it down.
//   npx tsc -p tsconfig.json && node dist/bench/kustomize-scale.js
// Writes bench/results/<date>-kustomize.json and .md. Reports numbers; asserts nothing about them.
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KubeClient, loadKubeConfig, type KubeObject } from "../controllers/runtime/kube";
import { crds } from "../controllers/api";
import { up, down } from "../local/controlplane";
import { projectRoot } from "../local/tools";
import { apply, isReady, pool, refs, Tracker } from "./cluster";
import { BenchRepo, gitCredentials } from "./gitrepo";
import { cpuDelta, readCpu } from "./procstat";
import { median } from "./stats";
import { killAll, startMooring, waitHealthy, type RunningSystem } from "./systems";
import * as w from "./workload";

const singles = 3;
const batch = 100;
const timeoutMs = 600_000;
const fieldManager = "mooring-bench";

export interface PhaseResult {
  /** Kustomizations created at once in this phase. */
  n: number;
  /** Creation of the first to all Ready (at their generation), seconds. */
  seconds: number;
  /** kustomize-controller CPU seconds (with reaped children: kustomize, git) over the phase. */
  cpuSeconds?: number;
  /** Highest VmRSS sampled (every 200 ms) during the phase, MiB. */
  maxRssMiB?: number;
}

export interface KustomizeScaleResults {
  date: string;
  machine: { cpus: number; model: string; node: string; loadavgAfter: number[] };
  workload: string;
  singles: PhaseResult[];
  singleMedianSeconds?: number;
  batch?: PhaseResult;
  rssMiB: { idleBefore?: number; afterBatch?: number; peak?: number };
  error?: string;
}

const log = (line: string) => process.stderr.write(`kustomize-scale: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

async function rssMiB(pid: number): Promise<number | undefined> {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(await fs.readFile(`/proc/${pid}/status`, "utf8"));
    return m ? round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's VmRSS until stopped; returns the maximum seen. */
function rssSampler(pid: number): { stop(): Promise<number | undefined> } {
  let max: number | undefined;
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await rssMiB(pid);
      if (r !== undefined && (max === undefined || r > max)) max = r;
      await sleep(200);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return max;
    },
  };
}

async function waitEstablished(client: KubeClient): Promise<void> {
  for (const crd of crds()) {
    await apply(client, crd as unknown as KubeObject, fieldManager);
  }
  const deadline = Date.now() + 60_000;
  for (const crd of crds()) {
    for (;;) {
      const got = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(refs.crd, undefined, crd.metadata.name);
      if (got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not Established after 60s`);
      await sleep(100);
    }
  }
}

/** Creates Kustomizations for the given app indices at once; seconds until all of them are Ready. */
async function phase(client: KubeClient, ready: Tracker<KubeObject>, indices: number[], kustomizePid: number): Promise<PhaseResult> {
  const want = ready.count + indices.length;
  const cpu0 = await readCpu(kustomizePid);
  const rss = rssSampler(kustomizePid);
  const t0 = performance.now();
  try {
    await pool(indices, 32, (i) => client.create(refs.kustomization, w.sourceNamespace, w.kustomization(i, { interval: "10m" })).then(() => undefined));
    const ok = await ready.waitForCount(want, AbortSignal.timeout(timeoutMs));
    if (!ok) throw new Error(`only ${ready.count - (want - indices.length)} of ${indices.length} Kustomizations Ready after ${timeoutMs / 1000}s`);
    const seconds = round((performance.now() - t0) / 1000, 2);
    return { n: indices.length, seconds, cpuSeconds: cpuDelta(cpu0, await readCpu(kustomizePid)), maxRssMiB: await rss.stop() };
  } finally {
    await rss.stop();
  }
}

export function renderMarkdown(r: KustomizeScaleResults): string {
  const row = (label: string, p: PhaseResult) => `| ${label} | ${p.n} | ${p.seconds} | ${p.cpuSeconds ?? "–"} | ${p.maxRssMiB ?? "–"} |`;
  return [
    "# Kustomization scale",
    "",
    `Measured ${r.date} on ${r.machine.cpus} cores (${r.machine.model}), node ${r.machine.node}, load average after ${JSON.stringify(r.machine.loadavgAfter)}.`,
    r.workload,
    "",
    "| run | Kustomizations | seconds to all Ready | kustomize-controller CPU s | max RSS MiB |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...r.singles.map((p, i) => row(`single #${i + 1}`, p)),
    ...(r.batch ? [row("batch", r.batch)] : []),
    "",
    `Single Kustomization, median of ${r.singles.length}: ${r.singleMedianSeconds ?? "–"} s.`,
    `kustomize-controller RSS: ${r.rssMiB.idleBefore ?? "–"} MiB idle before the runs, ${r.rssMiB.afterBatch ?? "–"} MiB after the batch, peak (VmHWM) ${r.rssMiB.peak ?? "–"} MiB.`,
    ...(r.error ? ["", `Error: ${r.error}`] : []),
    "",
    "Raw numbers: the JSON file next to this one. Reproduce: `npx tsc -p tsconfig.json && node dist/bench/kustomize-scale.js`.",
    "",
  ].join("\n");
}

export async function kustomizeScale(): Promise<number> {
  const date = new Date().toISOString();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-kustomize-scale-"));
  const cpDir = path.join(work, "cp");
  const results: KustomizeScaleResults = {
    date,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "unknown", node: process.version, loadavgAfter: [] },
    workload:
      `One GitRepository with ${singles + batch} app directories (Deployment with 0 replicas, ServiceAccount, headless Service, Ingress; each app in its own namespace; ` +
      `no kustomization.yaml, so the controller generates one). ${singles} single Kustomizations created one after the other, then ${batch} created at once. ` +
      "Seconds from the first create to all Ready; Mooring's controllers as child processes with default flags, one local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, 1 kwok node).",
    singles: [],
    rssMiB: {},
  };
  let system: RunningSystem | undefined;
  let repo: BenchRepo | undefined;
  const stopWatches = new AbortController();
  let torn = false;
  const teardown = async () => {
    if (torn) return;
    torn = true;
    stopWatches.abort();
    if (system) {
      const kustomize = system.controllers.find((c) => c.role === "kustomize");
      await system.stop().catch((err: unknown) => log(`stopping controllers: ${(err as Error).message}`));
      if (kustomize?.peakRssMiB !== undefined) results.rssMiB.peak = round(kustomize.peakRssMiB);
    }
    killAll();
    await repo?.close().catch(() => undefined);
    await down({ dir: cpDir }).catch((err: unknown) => log(`down ${cpDir}: ${(err as Error).message}`));
    if (!process.env.BENCH_KEEP) await fs.rm(work, { recursive: true, force: true }).catch(() => undefined);
    else log(`kept ${work}`);
  };
  const onSignal = () => {
    log("interrupted: stopping controllers and the control plane");
    killAll();
    void teardown().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    log(`control plane up (${cpDir})`);
    const cp = await up({ dir: cpDir, nodes: 1, realNode: false, timeoutMs: 180_000, log: (l) => log(l) });
    const client = new KubeClient(await loadKubeConfig(cp.kubeconfigPath));
    await waitEstablished(client);
    await apply(client, { apiVersion: "v1", kind: "Namespace", metadata: { name: w.sourceNamespace } }, fieldManager);
    await apply(client, { apiVersion: "v1", kind: "Secret", metadata: { name: "bench-git", namespace: w.sourceNamespace }, stringData: gitCredentials } as KubeObject, fieldManager);
    const all = Array.from({ length: singles + batch }, (_, i) => i + 1);
    await pool(all, 32, (i) => apply(client, w.appNamespace(i), fieldManager).then(() => undefined));
    repo = await BenchRepo.create(path.join(work, "repo"), w.repositoryFiles(all.length));
    const url = await repo.serve();

    system = await startMooring({ kubeconfig: cp.kubeconfigPath, dir: work });
    await waitHealthy(system.controllers);
    const kustomizePid = system.controllers.find((c) => c.role === "kustomize")!.pid;
    await apply(client, w.gitRepository(url, "bench-git", "10m"), fieldManager);
    const sources = new Tracker<KubeObject>(client, refs.gitRepository, isReady);
    const ready = new Tracker<KubeObject>(client, refs.kustomization, isReady);
    for (const tr of [sources, ready]) void tr.informer.run(stopWatches.signal);
    await Promise.all([sources, ready].map((tr) => tr.informer.waitForSync(stopWatches.signal)));
    if (!(await sources.waitForCount(1, AbortSignal.timeout(120_000)))) throw new Error(`GitRepository not Ready after 120s; see ${system.controllers[0]!.log}`);
    await sleep(2_000);
    results.rssMiB.idleBefore = await rssMiB(kustomizePid);
    log(`controllers healthy, GitRepository Ready; kustomize-controller RSS ${results.rssMiB.idleBefore} MiB`);

    for (let i = 1; i <= singles; i++) {
      const p = await phase(client, ready, [i], kustomizePid);
      results.singles.push(p);
      log(`single #${i}: Ready in ${p.seconds}s`);
      await sleep(1_000);
    }
    results.singleMedianSeconds = median(results.singles.map((p) => p.seconds));
    const indices = all.slice(singles);
    results.batch = await phase(client, ready, indices, kustomizePid);
    log(`batch of ${indices.length}: all Ready in ${results.batch.seconds}s (max RSS ${results.batch.maxRssMiB} MiB)`);
    await sleep(2_000);
    results.rssMiB.afterBatch = await rssMiB(kustomizePid);
  } catch (err) {
    results.error = (err as Error).message.split("\n")[0];
    log(`FAILED: ${(err as Error).message}`);
  } finally {
    await teardown();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  results.machine.loadavgAfter = os.loadavg().map((x) => round(x, 2));
  const out = path.join(projectRoot(), "bench", "results");
  await fs.mkdir(out, { recursive: true });
  const day = date.slice(0, 10);
  await fs.writeFile(path.join(out, `${day}-kustomize.json`), JSON.stringify(results, null, 2) + "\n");
  await fs.writeFile(path.join(out, `${day}-kustomize.md`), renderMarkdown(results));
  process.stdout.write(renderMarkdown(results));
  log(`results: ${path.join(out, `${day}-kustomize.json`)}`);
  return results.error ? 1 : 0;
}

if (require.main === module) {
  kustomizeScale().then(
    (code) => process.exit(code),
    (err: unknown) => {
      killAll();
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
