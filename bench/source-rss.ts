// Source-controller memory and reconcile time (measured, not asserted).
//   npx tsc -p tsconfig.json && node dist/bench/source-rss.js [--count 100] [--dir DIR] [--out bench/results]
// Starts its own control plane (local/controlplane.ts, 0 nodes), runs `mooring controllers --controllers
// source` as a child process, and records: RSS idle (0 objects), RSS with N GitRepositories Ready (one local
// smart-HTTP repo, interval 10m), and gotk_reconcile_duration_seconds for an unchanged ref vs a new commit.
// Everything it starts (control plane, git server, controller) is torn down, also on failure.
import { spawn, type ChildProcess } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { up, down } from "../local/controlplane";
import { startGitHttpServer } from "../local/githost";
import { KubeClient, type ResourceRef } from "../controllers/runtime/kube";
import { crds, GitRepositoryKind, type GitRepository } from "../controllers/api";
import { BenchRepo } from "./gitrepo";

const repoRoot = path.resolve(__dirname, "..", "..");
const GitRepos = GitRepositoryKind.resource;
const Namespaces: ResourceRef = { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false };
const CRDs: ResourceRef = { kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", namespaced: false };

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Current RSS (VmRSS) and peak (VmHWM) of a process, MiB. */
function rss(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { rssMiB: Math.round((kb("VmRSS") / 1024) * 10) / 10, peakMiB: Math.round((kb("VmHWM") / 1024) * 10) / 10 };
}

/** Median of a few RSS samples a second apart (GC makes single readings noisy). */
async function sampleRss(pid: number, n = 5): Promise<{ rssMiB: number; peakMiB: number }> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(rss(pid).rssMiB);
    await sleep(1000);
  }
  xs.sort((a, b) => a - b);
  return { rssMiB: xs[Math.floor(xs.length / 2)]!, peakMiB: rss(pid).peakMiB };
}

/** Sum and count of gotk_reconcile_duration_seconds per object name, from /metrics. */
async function reconcileDurations(metricsUrl: string): Promise<Map<string, { sum: number; count: number }>> {
  const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text();
  const out = new Map<string, { sum: number; count: number }>();
  for (const m of text.matchAll(/^gotk_reconcile_duration_seconds_(sum|count)\{([^}]*)\} ([0-9.e+-]+)$/gm)) {
    const name = /name="([^"]*)"/.exec(m[2]!)?.[1] ?? "";
    const e = out.get(name) ?? { sum: 0, count: 0 };
    e[m[1] as "sum" | "count"] = Number(m[3]);
    out.set(name, e);
  }
  return out;
}

interface Stat {
  reconciles: number;
  meanMs: number;
  p50Ms: number;
  maxMs: number;
}

function stat(ms: number[]): Stat {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { reconciles: s.length, meanMs: r(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)), p50Ms: r(s[Math.floor(s.length / 2)] ?? NaN), maxMs: r(s[s.length - 1] ?? NaN) };
}

async function main(): Promise<void> {
  const count = Number(flag("count", "100"));
  const sampleN = Math.min(20, count);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-bench-source-"));
  const dir = flag("dir", path.join(work, "cp"));
  const outDir = path.resolve(flag("out", path.join(repoRoot, "bench", "results")));
  let child: ChildProcess | undefined;
  let git: { close(): Promise<void> } | undefined;
  try {
    process.stderr.write(`control plane in ${dir} ...\n`);
    const cp = await up({ dir, nodes: 0, realNode: false, log: (l) => process.stderr.write(`  ${l}\n`) });
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const admin = new KubeClient(kc);
    for (const crd of crds()) await admin.patch(CRDs, undefined, crd.metadata.name, crd, { contentType: "application/apply-patch+yaml", query: { fieldManager: "bench", force: true } });
    for (const crd of crds()) {
      await until(`CRD ${crd.metadata.name}`, async () => {
        const c = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(CRDs, undefined, crd.metadata.name);
        return c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True") || undefined;
      }, 60_000);
    }
    const ns = "bench-source";
    await admin.create(Namespaces, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });

    const repo = await BenchRepo.create(path.join(work, "git"), { "apps/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\n", "README.md": "bench\n" });
    const server = await startGitHttpServer({ root: path.dirname(repo.bare) });
    git = server;
    const url = `${server.url}/fleet.git`;

    const storagePort = await freePort();
    const metricsPort = await freePort();
    const storagePath = path.join(work, "storage");
    const logs: { msg?: string; name?: string; ms?: number; fetched?: boolean; time?: string }[] = [];
    child = spawn(process.execPath, [
      path.join(repoRoot, "bin", "mooring.js"), "controllers", "--controllers", "source", "--kubeconfig", cp.kubeconfigPath,
      "--storage-path", storagePath, "--storage-addr", `127.0.0.1:${storagePort}`, "--storage-adv-addr", `127.0.0.1:${storagePort}`,
      "--metrics-addr", `127.0.0.1:${metricsPort}`, "--health-addr", "127.0.0.1:0",
    ], { cwd: repoRoot, env: { ...process.env, TMPDIR: work }, stdio: ["ignore", "pipe", "inherit"] });
    let buf = "";
    child.stdout!.on("data", (c: Buffer) => {
      buf += c.toString("utf8");
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) {
        try {
          logs.push(JSON.parse(l) as (typeof logs)[number]);
        } catch {
          // not JSON
        }
      }
    });
    const pid = child.pid!;
    await until("controllers started", () => (logs.some((l) => l.msg === "controllers started") ? true : undefined), 60_000);
    await sleep(5_000);
    const idle = await sampleRss(pid);
    process.stderr.write(`idle: ${JSON.stringify(idle)}\n`);

    const names = Array.from({ length: count }, (_, i) => `repo-${String(i).padStart(3, "0")}`);
    const startedAt = Date.now();
    for (const name of names) {
      const obj: GitRepository = { apiVersion: GitRepositoryKind.apiVersion, kind: "GitRepository", metadata: { name, namespace: ns }, spec: { url, interval: "10m", ref: { branch: "main" } } };
      await admin.create(GitRepos, ns, obj);
    }
    const readyAll = async (pred: (o: GitRepository) => boolean) =>
      until(`${count} GitRepositories`, async () => {
        const list = await admin.list<GitRepository>(GitRepos, ns);
        const ok = list.items.filter((o) => o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") && pred(o));
        return ok.length === count ? list.items : undefined;
      }, 600_000);
    await readyAll(() => true);
    const allReadyS = Math.round((Date.now() - startedAt) / 100) / 10;
    await sleep(5_000);
    const loaded = await sampleRss(pid);
    process.stderr.write(`${count} Ready in ${allReadyS}s: ${JSON.stringify(loaded)}\n`);

    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const sample = names.slice(0, sampleN);
    const measure = async (label: string, prepare: () => Promise<(o: GitRepository) => boolean>): Promise<Stat & { fetched: number }> => {
      const before = await reconcileDurations(metricsUrl);
      const logFrom = logs.length;
      const done = await prepare();
      // One at a time so reconciles do not queue behind each other (the time is the reconcile's own).
      for (const name of sample) {
        const token = `${label}-${Date.now()}`;
        await admin.patch(GitRepos, ns, name, { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": token } } }, { contentType: "application/merge-patch+json" });
        await until(`${name} handled ${token}`, async () => {
          const o = await admin.get<GitRepository>(GitRepos, ns, name);
          return o.status?.lastHandledReconcileAt === token && done(o) ? true : undefined;
        }, 60_000);
      }
      await sleep(1_000);
      const after = await reconcileDurations(metricsUrl);
      const ms: number[] = [];
      for (const name of sample) {
        const a = after.get(name);
        const b = before.get(name) ?? { sum: 0, count: 0 };
        if (a && a.count > b.count) ms.push(((a.sum - b.sum) / (a.count - b.count)) * 1000);
      }
      const fetched = logs.slice(logFrom).filter((l) => sample.includes(l.name ?? "") && l.fetched === true).length;
      return { ...stat(ms), fetched };
    };
    const unchanged = await measure("unchanged", async () => () => true);
    const newCommit = await measure("newcommit", async () => {
      const sha = await repo.commit({ "apps/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, labels: {v: '2'}}\n" }, "bench change");
      return (o) => o.status?.artifact?.revision === `main@sha1:${sha}`;
    });
    process.stderr.write(`unchanged: ${JSON.stringify(unchanged)}\nnew commit: ${JSON.stringify(newCommit)}\n`);

    const date = new Date().toISOString().slice(0, 10);
    const result = {
      date,
      machine: { cpus: os.cpus().length, loadavg1m: Math.round(os.loadavg()[0]! * 100) / 100, node: process.version },
      gitRepositories: count,
      rssIdle: idle,
      rssWithReady: { ...loaded, allReadySeconds: allReadyS },
      reconcile: { sampleSize: sampleN, unchangedRef: unchanged, newCommit },
      notes: "RSS is VmRSS (median of 5 samples 1 s apart) of the controller's node process; git children not included. Reconcile times: gotk_reconcile_duration_seconds (sum/count delta per object) for reconciles requested one at a time via reconcile.fluxcd.io/requestedAt.",
    };
    await fs.mkdir(outDir, { recursive: true });
    await fs.writeFile(path.join(outDir, `${date}-source.json`), JSON.stringify(result, null, 2) + "\n");
    await fs.writeFile(path.join(outDir, `${date}-source.md`), [
      `# source-controller memory and reconcile time (${date})`,
      "",
      `Machine: ${result.machine.cpus} CPUs, load average ${result.machine.loadavg1m} at the end (shared, busy), Node ${process.version}. Control plane: local (etcd + kube-apiserver, 0 nodes).`,
      `Run: \`npx tsc -p tsconfig.json && node dist/bench/source-rss.js\`.`,
      "",
      "| measurement | value |",
      "|---|---|",
      `| RSS idle (0 objects) | ${idle.rssMiB} MiB (peak ${idle.peakMiB} MiB) |`,
      `| RSS with ${count} GitRepositories Ready (one repo, interval 10m) | ${loaded.rssMiB} MiB (peak ${loaded.peakMiB} MiB) |`,
      `| time until all ${count} Ready (from the first create) | ${allReadyS} s |`,
      `| reconcile, unchanged ref (ls-remote only), n=${unchanged.reconciles} | mean ${unchanged.meanMs} ms, p50 ${unchanged.p50Ms} ms, max ${unchanged.maxMs} ms (fetched: ${unchanged.fetched}) |`,
      `| reconcile, new commit (fetch + archive), n=${newCommit.reconciles} | mean ${newCommit.meanMs} ms, p50 ${newCommit.p50Ms} ms, max ${newCommit.maxMs} ms (fetched: ${newCommit.fetched}) |`,
      "",
      result.notes,
      "",
    ].join("\n"));
    process.stderr.write(`wrote ${path.join(outDir, `${date}-source.json`)}\n`);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(15_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    await git?.close();
    await down({ dir }).catch((err: unknown) => process.stderr.write(`control plane down failed: ${String(err)}\n`));
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
