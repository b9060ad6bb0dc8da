// `npm run bench -- webhook [--systems pods,mooring,flux] [--dir <cluster dir>] [--commits 20] [--out bench/results]`:
// commit → applied through a Receiver. The git server's post-receive hook calls a GitHub Receiver with a real
// signature; the GitRepository and Kustomization have a 1h interval, so only the webhook can apply a commit.
// Each sample is from the start of `git push` until the pushed ConfigMap value is read back from the apiserver.
// Systems:
//   pods     Mooring's default install as pods on the real node of a running `mooring local up --dir` cluster,
//            the hook calling the webhook-receiver Service;
//   mooring  Mooring's source-, kustomize- and notification-controller as processes on this machine, against a
//            fresh control plane of their own;
//   flux     Flux's (source- and kustomize-controller 1.7.3, notification-controller 1.6.0, built from their Go
//            modules), the same way: side by side with `mooring`.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { down, status, up } from "../local/controlplane";
import { freePort } from "../local/ports";
import { startGitHttpServer } from "../local/githost";
import { defaultControllersRef, ensureControllersImage } from "../local/image";
import { importImage } from "../local/nodeimages";
import { toolPath } from "../local/tools";
import { renderInstallYaml } from "../bootstrap";
import { crds, kustomizeControllerRbac, notificationControllerRbac, sourceControllerRbac, GitRepositoryKind, KustomizationKind, ReceiverKind, receiverWebhookPath, type Receiver } from "../controllers/api";
import { KubeClient, isNotFound, loadKubeConfig } from "../controllers/runtime/kube";
import { summarize, type LatencySummary } from "./stats";
import { apply, installCrds } from "./cluster";
import { exitOnSignal, killAll, startFlux, startMooring, trackControlPlane, waitHealthy, type RunningSystem } from "./systems";

const run = promisify(execFile);
const core = (plural: string, kind: string) => ({ kind, group: "", version: "v1", plural, namespaced: true });
const ConfigMaps = core("configmaps", "ConfigMap");
const Secrets = core("secrets", "Secret");
const Services = core("services", "Service");
const Pods = core("pods", "Pod");

type WebhookSystem = "pods" | "mooring" | "flux";

interface WebhookArgs {
  dir?: string;
  systems: WebhookSystem[];
  commits: number;
  out: string;
}

const usage = "--systems pods,mooring,flux --dir DIR (for pods) --commits N --out DIR";

function parse(argv: string[]): WebhookArgs {
  const a: WebhookArgs = { systems: ["pods"], commits: 20, out: path.join("bench", "results") };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    if (flag === "--dir") a.dir = value();
    else if (flag === "--commits") a.commits = Number(value());
    else if (flag === "--out") a.out = value();
    else if (flag === "--systems") {
      a.systems = value().split(",").map((v) => {
        if (v !== "pods" && v !== "mooring" && v !== "flux") throw new Error(`--systems takes pods, mooring and flux, got ${JSON.stringify(v)}`);
        return v;
      });
    } else throw new Error(`unknown flag ${flag} (${usage})`);
  }
  if (a.systems.includes("pods") && !a.dir) throw new Error("--dir: the directory of a running `mooring local up` cluster with a real node (for the pods system)");
  if (!Number.isInteger(a.commits) || a.commits < 1) throw new Error("--commits must be a whole number of at least 1");
  return a;
}

const configMap = (ns: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\n  namespace: ${ns}\ndata:\n  value: "${value}"\n`;

function hook(url: string, token: string): string {
  return `#!/bin/sh
body='{"ref":"refs/heads/main"}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac '${token}' | sed 's/^.* //')
curl -s -o /dev/null --max-time 10 -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" -H 'Content-Type: application/json' --data "$body" '${url}'
`;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`bench webhook: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Where the commits are measured: a namespace on a cluster, the controllers running, and how to reach the receiver. */
interface Target {
  client: KubeClient;
  ns: string;
  /** Address the git server binds (the node reaches the host there; processes use loopback). */
  gitHost: string;
  /** Base URL of the webhook receiver, as the git server's hook reaches it. */
  receiverBase: (client: KubeClient) => Promise<string>;
}

const log = (line: string) => process.stderr.write(`bench webhook: ${line}\n`);

/** Pushes `commits` commits and times each from the push until its value is in the cluster. */
async function measure(t: Target, commits: number, work: string): Promise<LatencySummary> {
  const { client, ns } = t;
  const root = path.join(work, "git");
  const bare = path.join(root, "fleet.git");
  const checkout = path.join(work, "checkout");
  const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=bench", "-c", "user.email=bench@mooring.invalid", ...args], { cwd, stdio: "pipe" });
  await fs.mkdir(root, { recursive: true });
  git(root, "init", "-q", "--bare", "-b", "main", bare);
  git(work, "init", "-q", "-b", "main", checkout);
  const commit = async (value: string) => {
    await fs.writeFile(path.join(checkout, "config.yaml"), configMap(ns, value));
    git(checkout, "add", "-A");
    git(checkout, "commit", "-q", "-m", `value ${value}`);
    git(checkout, "push", "-q", bare, "main");
  };
  await commit("0");
  const server = await startGitHttpServer({ host: t.gitHost, root });
  try {
    const token = randomBytes(16).toString("hex");
    await client.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", metadata: { name: "webhook-token", namespace: ns }, stringData: { token } });
    await client.create(GitRepositoryKind.resource, ns, { apiVersion: GitRepositoryKind.apiVersion, kind: "GitRepository", metadata: { name: "fleet", namespace: ns }, spec: { url: `${server.url}/fleet.git`, interval: "1h", ref: { branch: "main" } } });
    await client.create(KustomizationKind.resource, ns, { apiVersion: KustomizationKind.apiVersion, kind: "Kustomization", metadata: { name: "fleet", namespace: ns }, spec: { interval: "1h", path: "./", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" } } });
    await client.create(ReceiverKind.resource, ns, { apiVersion: ReceiverKind.apiVersion, kind: "Receiver", metadata: { name: "github", namespace: ns }, spec: { type: "github", events: ["push"], resources: [{ kind: "GitRepository", name: "fleet" }], secretRef: { name: "webhook-token" } } });
    const hookPath = receiverWebhookPath(token, "github", ns);
    await until("the Receiver's webhook path", 60_000, async () => (await client.get<Receiver>(ReceiverKind.resource, ns, "github")).status?.webhookPath === hookPath, 200);
    const value = async () => {
      try {
        return (await client.get<{ data?: Record<string, string> }>(ConfigMaps, ns, "pushed")).data?.value;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    };
    await until("the first commit applied", 180_000, async () => (await value()) === "0", 200);
    await fs.writeFile(path.join(bare, "hooks", "post-receive"), hook(`${await t.receiverBase(client)}${hookPath}`, token), { mode: 0o755 });
    const seconds: number[] = [];
    let timedOut = 0;
    for (let i = 1; i <= commits; i++) {
      const started = performance.now();
      await commit(String(i));
      try {
        await until(`commit ${i} applied`, 60_000, async () => (await value()) === String(i));
        seconds.push((performance.now() - started) / 1000);
        log(`commit ${i}: ${seconds[seconds.length - 1]!.toFixed(3)} s`);
      } catch {
        timedOut++;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return summarize(seconds, timedOut);
  } finally {
    await server.close();
  }
}

/** The default install as pods on the real node of the running cluster in `dir`. */
async function measurePods(dir: string, commits: number): Promise<LatencySummary> {
  const cluster = await status({ dir });
  if (!cluster.realNode?.ready) throw new Error(`bench webhook: the cluster in ${dir} has no Ready real node (mooring local up --dir ${dir} --nodes 0)`);
  const kubeconfig = path.join(path.resolve(dir), "kubeconfig");
  const client = new KubeClient(await loadKubeConfig(kubeconfig));
  const kubectl = await toolPath("kubectl");
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  const ns = `bench-webhook-${randomBytes(3).toString("hex")}`;
  const tag = "v0.1.0-bench-webhook";
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-bench-webhook-"));
  try {
    const image = await ensureControllersImage({ ref: defaultControllersRef(tag) });
    await importImage(path.resolve(dir), image.archive);
    const inputs = { crds: crds(), rbac: { source: sourceControllerRbac(ns), kustomize: kustomizeControllerRbac(ns, { clusterAdmin: false }), notification: notificationControllerRbac(ns) } };
    await fs.writeFile(path.join(work, "install.yaml"), renderInstallYaml(inputs, { version: "0.1.0", namespace: ns, image: { tag }, imagePullPolicy: "Never", networkPolicy: false }));
    await run(kubectl, ["apply", "--server-side", "--force-conflicts", "-f", path.join(work, "install.yaml")], { env });
    await until("the controllers' pods Ready", 300_000, async () => {
      const pods = (await client.list<{ status?: { conditions?: { type: string; status: string }[] } }>(Pods, ns)).items;
      return pods.length >= 3 && pods.every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    }, 500);
    return await measure(
      {
        client,
        ns,
        gitHost: cluster.realNode.nodeAddress,
        receiverBase: async (c) => `http://${(await c.get<{ spec: { clusterIP: string } }>(Services, ns, "webhook-receiver")).spec.clusterIP}`,
      },
      commits,
      work,
    );
  } finally {
    await run(kubectl, ["delete", "namespace", ns, "--wait=false", "--ignore-not-found"], { env }).catch(() => undefined);
    for (const b of ["mooring-source-controller", "mooring-kustomize-controller", "mooring-notification-controller", "cluster-reconciler"]) {
      await run(kubectl, ["delete", "clusterrolebinding", `${b}-${ns}`, "--ignore-not-found"], { env }).catch(() => undefined);
    }
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Mooring's or Flux's controllers as processes on this machine, against a fresh control plane of their own. */
async function measureProcesses(system: "mooring" | "flux", commits: number): Promise<LatencySummary> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), `mooring-bench-webhook-${system}-`));
  const cpDir = path.join(work, "cp");
  const untrack = trackControlPlane(cpDir);
  let running: RunningSystem | undefined;
  try {
    log(`${system}: control plane up (${cpDir})`);
    const cp = await up({ dir: cpDir, nodes: 0, realNode: false, timeoutMs: 180_000 });
    const client = new KubeClient(await loadKubeConfig(cp.kubeconfigPath));
    await installCrds(client, system === "flux");
    const ns = "bench-webhook";
    for (const name of [ns, "flux-system"]) await apply(client, { apiVersion: "v1", kind: "Namespace", metadata: { name } }, "mooring-bench");
    const receiverPort = await freePort();
    const o = { kubeconfig: cp.kubeconfigPath, dir: work, notification: { receiverPort, eventsPort: await freePort() } };
    running = system === "flux" ? await startFlux({ ...o, tuned: false }) : await startMooring(o);
    await waitHealthy(running.controllers);
    log(`${system}: controllers healthy`);
    return await measure({ client, ns, gitHost: "127.0.0.1", receiverBase: async () => `http://127.0.0.1:${receiverPort}` }, commits, work);
  } finally {
    await running?.stop();
    await down({ dir: cpDir }).catch((err: unknown) => log(`down ${cpDir}: ${(err as Error).message}`));
    untrack();
    if (!process.env.BENCH_KEEP) await fs.rm(work, { recursive: true, force: true }).catch(() => undefined);
    else log(`kept ${work}`);
  }
}

export async function webhook(argv: string[]): Promise<number> {
  const a = parse(argv);
  exitOnSignal(log);
  const date = new Date().toISOString().slice(0, 10);
  const jsonFile = path.join(a.out, `${date}-webhook.json`);
  const doc: WebhookResults = { benchmark: "webhook", date, machine: {}, systems: {} };
  try {
    const previous = JSON.parse(await fs.readFile(jsonFile, "utf8")) as Partial<WebhookResults> & { commitToApplied?: LatencySummary };
    doc.systems = previous.systems ?? (previous.commitToApplied ? { pods: { ...previous.commitToApplied, loadavg: [] } } : {});
  } catch {
    // first run of the day
  }
  try {
    for (const system of a.systems) {
      const load = os.loadavg().map((v) => Math.round(v * 100) / 100);
      const summary = system === "pods" ? await measurePods(a.dir!, a.commits) : await measureProcesses(system, a.commits);
      doc.systems[system] = { ...summary, loadavg: load };
      doc.machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, date: new Date().toISOString() };
      await fs.mkdir(a.out, { recursive: true });
      await fs.writeFile(jsonFile, `${JSON.stringify(doc, null, 2)}\n`);
      await fs.writeFile(path.join(a.out, `${date}-webhook.md`), renderWebhook(doc));
      log(`${system}: p50 ${summary.medianSeconds} s, p95 ${summary.p95Seconds} s over ${summary.samples} commits`);
    }
  } finally {
    killAll();
  }
  process.stdout.write(renderWebhook(doc));
  return 0;
}

interface WebhookResults {
  benchmark: "webhook";
  date: string;
  machine: Record<string, unknown>;
  /** Per system: the latency summary and the 1-minute load averages when it started. */
  systems: Partial<Record<WebhookSystem, LatencySummary & { loadavg: number[] }>>;
}

const systemLabels: Record<WebhookSystem, string> = {
  pods: "Mooring, default install as pods on the real node (hook → webhook-receiver Service)",
  mooring: "Mooring, controllers as processes, own control plane",
  flux: "Flux (source/kustomize 1.7.3, notification 1.6.0) as processes, own control plane",
};

export function renderWebhook(doc: WebhookResults): string {
  const rows = (["pods", "mooring", "flux"] as const).filter((k) => doc.systems[k]).map((k) => {
    const s = doc.systems[k]!;
    return `| ${systemLabels[k]} | ${s.samples} | ${s.medianSeconds} s | ${s.p95Seconds} s | ${s.maxSeconds} s | ${s.timedOut} | ${s.loadavg.length ? s.loadavg.join(" / ") : "–"} |`;
  });
  return `# Commit → applied through a Receiver webhook (${doc.date})

A git push runs the server's post-receive hook, which calls a GitHub Receiver (X-Hub-Signature-256) that
annotates the GitRepository; GitRepository and Kustomization at a 1h interval, so only the webhook applies a
commit. A sample is from the start of \`git push\` until the pushed ConfigMap value is read from the apiserver
(polled every 20 ms). Machine: ${String(doc.machine.cpus ?? "?")} cores. Reproduce:
\`npm run bench -- webhook --systems pods,mooring,flux --dir <cluster dir> --commits 20\`.

| system | commits | p50 | p95 | max | timed out | load 1/5/15 min at start |
| --- | ---: | ---: | ---: | ---: | ---: | --- |
${rows.join("\n")}
`;
}
