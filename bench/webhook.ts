// `npm run bench -- webhook --dir <cluster dir> [--commits 20] [--out bench/results]`: commit → applied through
// a Receiver. The default install runs as pods on the real node of a running `mooring local up` cluster; the
// git server's post-receive hook calls the GitHub Receiver through the webhook-receiver Service with a real
// signature; the GitRepository and Kustomization have a 1h interval, so only the webhook can apply a commit.
// Each sample is from the start of `git push` until the pushed ConfigMap value is read back from the apiserver.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { status } from "../local/controlplane";
import { startGitHttpServer } from "../local/githost";
import { defaultControllersRef, ensureControllersImage } from "../local/image";
import { importImage } from "../local/nodeimages";
import { toolPath } from "../local/tools";
import { renderInstallYaml } from "../bootstrap";
import { crds, kustomizeControllerRbac, notificationControllerRbac, sourceControllerRbac, GitRepositoryKind, KustomizationKind, ReceiverKind, receiverWebhookPath, type Receiver } from "../controllers/api";
import { KubeClient, isNotFound, loadKubeConfig } from "../controllers/runtime/kube";
import { summarize, type LatencySummary } from "./stats";

const run = promisify(execFile);
const core = (plural: string, kind: string) => ({ kind, group: "", version: "v1", plural, namespaced: true });
const ConfigMaps = core("configmaps", "ConfigMap");
const Secrets = core("secrets", "Secret");
const Services = core("services", "Service");
const Pods = core("pods", "Pod");

interface WebhookArgs {
  dir: string;
  commits: number;
  out: string;
}

function parse(argv: string[]): WebhookArgs {
  const a: Partial<WebhookArgs> = { commits: 20, out: path.join("bench", "results") };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    if (flag === "--dir") a.dir = value();
    else if (flag === "--commits") a.commits = Number(value());
    else if (flag === "--out") a.out = value();
    else throw new Error(`unknown flag ${flag} (--dir DIR --commits N --out DIR)`);
  }
  if (!a.dir) throw new Error("--dir: the directory of a running `mooring local up` cluster with a real node");
  if (!Number.isInteger(a.commits) || a.commits! < 1) throw new Error("--commits must be a whole number of at least 1");
  return a as WebhookArgs;
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

export async function webhook(argv: string[]): Promise<number> {
  const a = parse(argv);
  const cluster = await status({ dir: a.dir });
  if (!cluster.realNode?.ready) throw new Error(`bench webhook: the cluster in ${a.dir} has no Ready real node (mooring local up --dir ${a.dir} --nodes 0)`);
  const kubeconfig = path.join(path.resolve(a.dir), "kubeconfig");
  const client = new KubeClient(await loadKubeConfig(kubeconfig));
  const kubectl = await toolPath("kubectl");
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  const ns = `bench-webhook-${randomBytes(3).toString("hex")}`;
  const tag = "v0.1.0-bench-webhook";
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-bench-webhook-"));
  const log = (line: string) => process.stderr.write(`bench webhook: ${line}\n`);
  const cleanup = async () => {
    await run(kubectl, ["delete", "namespace", ns, "--wait=false", "--ignore-not-found"], { env }).catch(() => undefined);
    for (const b of ["mooring-source-controller", "mooring-kustomize-controller", "mooring-notification-controller", "cluster-reconciler"]) {
      await run(kubectl, ["delete", "clusterrolebinding", `${b}-${ns}`, "--ignore-not-found"], { env }).catch(() => undefined);
    }
    await fs.rm(work, { recursive: true, force: true });
  };
  try {
    const image = await ensureControllersImage({ ref: defaultControllersRef(tag) });
    await importImage(path.resolve(a.dir), image.archive);
    const inputs = { crds: crds(), rbac: { source: sourceControllerRbac(ns), kustomize: kustomizeControllerRbac(ns, { clusterAdmin: false }), notification: notificationControllerRbac(ns) } };
    await fs.writeFile(path.join(work, "install.yaml"), renderInstallYaml(inputs, { version: "0.1.0", namespace: ns, image: { tag }, imagePullPolicy: "Never", networkPolicy: false }));
    await run(kubectl, ["apply", "--server-side", "--force-conflicts", "-f", path.join(work, "install.yaml")], { env });
    await until("the controllers' pods Ready", 300_000, async () => {
      const pods = (await client.list<{ status?: { conditions?: { type: string; status: string }[] } }>(Pods, ns)).items;
      return pods.length === 3 && pods.every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    }, 500);

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
    const server = await startGitHttpServer({ host: cluster.realNode.nodeAddress, root });
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
      const svc = await client.get<{ spec: { clusterIP: string } }>(Services, ns, "webhook-receiver");
      await fs.writeFile(path.join(bare, "hooks", "post-receive"), hook(`http://${svc.spec.clusterIP}${hookPath}`, token), { mode: 0o755 });
      const seconds: number[] = [];
      let timedOut = 0;
      for (let i = 1; i <= a.commits; i++) {
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
      const summary = summarize(seconds, timedOut);
      await writeResults(a.out, summary, os.cpus().length);
      log(`p50 ${summary.medianSeconds} s, p95 ${summary.p95Seconds} s over ${summary.samples} commits`);
    } finally {
      await server.close();
    }
    return 0;
  } finally {
    await cleanup();
  }
}

async function writeResults(out: string, s: LatencySummary, cpus: number): Promise<void> {
  const date = new Date().toISOString().slice(0, 10);
  await fs.mkdir(out, { recursive: true });
  const doc = { benchmark: "webhook", date, machine: { cpus, shared: true }, commitToApplied: s };
  await fs.writeFile(path.join(out, `${date}-webhook.json`), `${JSON.stringify(doc, null, 2)}\n`);
  const md = `# Commit → applied through a Receiver webhook (${date})

The default install (source-, kustomize- and notification-controller) as pods on the real node of a local
cluster; a git push runs the server's post-receive hook, which calls a GitHub Receiver through the
webhook-receiver Service (X-Hub-Signature-256); GitRepository and Kustomization at a 1h interval. A sample is
from the start of \`git push\` until the pushed ConfigMap value is read from the apiserver (polled every 20 ms).
Machine: ${cpus} cores, shared with other builds and clusters while measured.

| commits | p50 | p95 | max | timed out |
| --- | --- | --- | --- | --- |
| ${s.samples} | ${s.medianSeconds} s | ${s.p95Seconds} s | ${s.maxSeconds} s | ${s.timedOut} |
`;
  await fs.writeFile(path.join(out, `${date}-webhook.md`), md);
}
