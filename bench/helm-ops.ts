// How a helm-controller should run Helm: one long-lived Mooring Helm helper (mooring-helm, requests over
// stdin/stdout, one goroutine each) against the pinned `helm` binary started once per operation. N releases of
// the benchmark chart (Deployment with 0 replicas, ServiceAccount, Service, Ingress) are installed, read back
// (what every steady-state reconcile asks: the last release) and upgraded, each way, 10 at a time, into their
// own namespace of the cluster in --dir. Reports CPU seconds and peak RSS per release for both.
//
// Install and upgrade carry the labels the helm-controller sends (release storage and post-rendered objects).
// --profile <file> writes the helper's Go CPU profile; --only helper skips the CLI side.
//
//   node dist/bench/helm-ops.js --dir /tmp/cp [--n 100] [--out bench/results/<date>-helm-ops] [--profile <file>] [--only helper]
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadKubeConfig, KubeClient } from "../controllers/runtime/kube";
import { StaticKubeConfig } from "../controllers/runtime/kubeconfig";
import { HelmHelper, connectionOf, type HelmRequest } from "../controllers/helm/helper";
import { newLogger } from "../controllers/runtime/log";
import { projectRoot, toolPath } from "../local/tools";
import { readCpu, readPeakRssMiB } from "./procstat";

interface Args {
  dir: string;
  n: number;
  out?: string;
  concurrency: number;
  profile?: string;
  only?: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dir = get("dir");
  if (!dir) throw new Error("usage: helm-ops --dir <cluster dir> [--n 100] [--concurrency 10] [--out <file prefix>]");
  return { dir, n: Number(get("n") ?? 100), out: get("out"), concurrency: Number(get("concurrency") ?? 10), profile: get("profile"), only: get("only") };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

interface Timed {
  cpu: number;
  maxRssMiB: number;
}

/** One `helm` run under /usr/bin/time: its CPU (user+sys) and max RSS. */
function timedHelm(helm: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  return new Promise((resolve, reject) => {
    execFile("/usr/bin/time", ["-f", "@@%U %S %M", helm, ...args], { env, maxBuffer: 16 << 20, timeout: 300_000 }, (err, _stdout, stderr) => {
      const m = /@@([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      if (err || !m) return reject(new Error(`helm ${args.join(" ")}: ${stderr.slice(-500)}`));
      resolve({ cpu: Number(m[1]) + Number(m[2]), maxRssMiB: Number(m[3]) / 1024 });
    });
  });
}

interface PhaseResult {
  phase: string;
  wallS: number;
  cpuS: number;
  cpuMsPerRelease: number;
}

interface SideResult {
  way: string;
  phases: PhaseResult[];
  peakRssMiB: number;
  note: string;
}

async function helperSide(a: Args, chart: string, kubeconfig: string, namespace: string): Promise<SideResult> {
  const kc = await loadKubeConfig(kubeconfig);
  if (!(kc instanceof StaticKubeConfig)) throw new Error("the benchmark needs a static kubeconfig");
  const helper = new HelmHelper({ path: await toolPath("mooring-helm"), args: a.profile ? [`--cpu-profile=${path.resolve(a.profile)}`] : [], connection: connectionOf(kc.credentials), log: newLogger("error") });
  await helper.run({ op: "status", releaseName: "warmup", namespace });
  const pid = helper.pid!;
  const names = Array.from({ length: a.n }, (_, i) => `h${i}`);
  const phases: PhaseResult[] = [];
  const phase = async (name: string, req: (rel: string) => HelmRequest) => {
    const before = await readCpu(pid);
    const started = Date.now();
    await pool(names, a.concurrency, async (rel) => {
      const res = await helper.run(req(rel));
      if (!res.ok) throw new Error(`${name} ${rel}: ${res.error}`);
    });
    const after = await readCpu(pid);
    const cpu = after!.self - before!.self;
    phases.push({ phase: name, wallS: (Date.now() - started) / 1000, cpuS: cpu, cpuMsPerRelease: (cpu * 1000) / a.n });
  };
  const base = (rel: string) => ({ releaseName: rel, namespace });
  const labels = (rel: string) => ({ "helm.toolkit.fluxcd.io/name": rel, "helm.toolkit.fluxcd.io/namespace": namespace });
  await phase("install", (rel) => ({ op: "install", ...base(rel), chart, values: { replicaCount: 0 }, wait: false, labels: labels(rel) }));
  await phase("last release", (rel) => ({ op: "status", ...base(rel), chart }));
  await phase("upgrade", (rel) => ({ op: "upgrade", ...base(rel), chart, values: { replicaCount: 0, image: "ghcr.io/mooring/demo-app:1.0.1" }, wait: false, labels: labels(rel) }));
  const peak = (await readPeakRssMiB(pid)) ?? 0;
  await helper.stop();
  return { way: "mooring-helm (one process)", phases, peakRssMiB: peak, note: "CPU and peak RSS of the one helper process" };
}

async function cliSide(a: Args, chart: string, kubeconfig: string, namespace: string): Promise<SideResult> {
  const helm = await toolPath("helm");
  const home = await fs.mkdtemp(path.join(os.tmpdir(), "helm-ops-"));
  const env = { ...process.env, KUBECONFIG: kubeconfig, HELM_CACHE_HOME: `${home}/cache`, HELM_CONFIG_HOME: `${home}/config`, HELM_DATA_HOME: `${home}/data` };
  const names = Array.from({ length: a.n }, (_, i) => `c${i}`);
  const phases: PhaseResult[] = [];
  let peak = 0;
  const phase = async (name: string, args: (rel: string) => string[]) => {
    let cpu = 0;
    const started = Date.now();
    await pool(names, a.concurrency, async (rel) => {
      const t = await timedHelm(helm, args(rel), env);
      cpu += t.cpu;
      peak = Math.max(peak, t.maxRssMiB);
    });
    phases.push({ phase: name, wallS: (Date.now() - started) / 1000, cpuS: cpu, cpuMsPerRelease: (cpu * 1000) / a.n });
  };
  await phase("install", (rel) => ["install", rel, chart, "-n", namespace, "--set", "replicaCount=0"]);
  await phase("last release", (rel) => ["status", rel, "-n", namespace, "-o", "json"]);
  await phase("upgrade", (rel) => ["upgrade", rel, chart, "-n", namespace, "--set", "replicaCount=0", "--set", "image=ghcr.io/mooring/demo-app:1.0.1"]);
  await fs.rm(home, { recursive: true, force: true });
  return { way: "helm CLI (one process per operation)", phases, peakRssMiB: peak, note: "CPU summed over the helm processes; peak RSS of the largest one (10 run at once)" };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const kubeconfig = path.join(a.dir, "kubeconfig");
  const admin = new KubeClient(await loadKubeConfig(kubeconfig));
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "helm-ops-chart-"));
  const pkg = await new Promise<string>((resolve, reject) =>
    execFile(toolPathSync(), ["package", path.join(projectRoot(), "bench", "charts", "bench-app"), "-d", work], (err, stdout) => (err ? reject(err) : resolve(/saved it to: (.+\.tgz)/.exec(stdout)![1]!.trim()))),
  );
  const results: SideResult[] = [];
  for (const [way, fn] of ([["helper", helperSide], ["cli", cliSide]] as const).filter(([w]) => !a.only || a.only === w)) {
    const namespace = `helm-ops-${way}-${Date.now().toString(36)}`;
    await admin.create({ kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false }, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    results.push(await fn(a, pkg, kubeconfig, namespace));
    await admin.delete({ kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false }, undefined, namespace);
  }
  const lines = [
    `# Helm operations: one helper process or one helm process per operation (N=${a.n}, ${a.concurrency} at a time)`,
    "",
    `Machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ""}; ${new Date().toISOString()}`,
    "",
    "| way | phase | wall s | CPU s | CPU ms per release |",
    "| --- | --- | ---: | ---: | ---: |",
    ...results.flatMap((r) => r.phases.map((p) => `| ${r.way} | ${p.phase} | ${p.wallS.toFixed(1)} | ${p.cpuS.toFixed(2)} | ${p.cpuMsPerRelease.toFixed(0)} |`)),
    "",
    ...results.map((r) => `- ${r.way}: peak RSS ${r.peakRssMiB.toFixed(0)} MiB (${r.note})`),
    "",
  ];
  process.stdout.write(lines.join("\n"));
  if (a.out) {
    await fs.writeFile(`${a.out}.json`, JSON.stringify({ n: a.n, concurrency: a.concurrency, cores: os.cpus().length, at: new Date().toISOString(), results }, null, 2) + "\n");
    await fs.writeFile(`${a.out}.md`, lines.join("\n"));
  }
  await fs.rm(work, { recursive: true, force: true });
}

let helmBin = "";
function toolPathSync(): string {
  return helmBin;
}

toolPath("helm")
  .then((p) => {
    helmBin = p;
    return main();
  })
  .catch((err: unknown) => {
    process.stderr.write(`helm-ops: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
