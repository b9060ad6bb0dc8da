// The source-controller as a child process (`node bin/mooring.js controllers --controllers source ...`),
// running as its ServiceAccount, with its own storage directory and TMPDIR, for crash / restart / leader
// election / shutdown tests. A SIGKILL takes down node and all its descendants, the way a container kill does.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { TestContext } from "node:test";
import { KubeClient } from "../../../controllers/runtime/kube";
import { sourceControllerRbac } from "../../../controllers/api";
import { newNamespace, serviceAccountKubeconfig, testKubeConfig, waitFor } from "../../harness/cluster";
import { apply, installCrds } from "./env";

const repoRoot = path.resolve(__dirname, "..", "..", "..", "..");

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface ControllerIdentity {
  admin: KubeClient;
  /** Namespace of the ServiceAccount (and the leader-election Lease). */
  namespace: string;
  kubeconfigPath: string;
}

/** CRDs, a controller namespace with the exported RBAC, and a kubeconfig for its ServiceAccount. */
export async function controllerIdentity(t: TestContext): Promise<ControllerIdentity> {
  const admin = new KubeClient(testKubeConfig());
  await installCrds(admin);
  const namespace = await newNamespace(t);
  for (const o of sourceControllerRbac(namespace)) await apply(admin, o);
  const sa = await serviceAccountKubeconfig({ namespace, name: "source-controller" });
  t.after(() => fs.rmSync(path.dirname(sa.path), { recursive: true, force: true }));
  return { admin, namespace, kubeconfigPath: sa.path };
}

export interface ProcessOptions {
  identity: ControllerIdentity;
  storagePath: string;
  /** TMPDIR of the process (so the test sees every temp file it makes). */
  tmpDir: string;
  leaderElect?: boolean;
  /** The controllers the process runs (default: source). */
  controllers?: string[];
  extraArgs?: string[];
}

export class ControllerProcess {
  readonly logs: Record<string, unknown>[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly storageAddr: string;
  private readonly child: ChildProcess;
  private running = true;

  private constructor(storagePort: number, o: ProcessOptions) {
    this.storageAddr = `127.0.0.1:${storagePort}`;
    const args = [
      path.join(repoRoot, "bin", "mooring.js"),
      "controllers",
      "--controllers", (o.controllers ?? ["source"]).join(","),
      "--kubeconfig", o.identity.kubeconfigPath,
      "--storage-path", o.storagePath,
      "--storage-addr", this.storageAddr,
      "--storage-adv-addr", this.storageAddr,
      "--metrics-addr", "127.0.0.1:0",
      "--health-addr", "127.0.0.1:0",
      "--concurrent", "2",
      "--log-level", "debug",
      ...(o.leaderElect ? ["--leader-elect", "--leader-election-namespace", o.identity.namespace] : []),
      ...(o.extraArgs ?? []),
    ];
    this.child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, TMPDIR: o.tmpDir, KUBECONFIG: "" }, stdio: ["ignore", "pipe", "pipe"] });
    let buffered = "";
    this.child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.stderr.push(line);
        }
      }
    });
    this.child.stderr!.on("data", (chunk: Buffer) => this.stderr.push(chunk.toString("utf8")));
    this.exited = new Promise((resolve) =>
      this.child.on("exit", (code, signal) => {
        this.running = false;
        resolve({ code, signal });
      }),
    );
  }

  /** Starts a process; it is killed (with its group) when the test ends if it still runs. */
  static async start(t: TestContext, o: ProcessOptions): Promise<ControllerProcess> {
    const p = new ControllerProcess(await freePort(), o);
    t.after(async () => {
      if (process.env.MOORING_TEST_LOGS) fs.appendFileSync(process.env.MOORING_TEST_LOGS, p.logs.map((l) => JSON.stringify(l)).join("\n") + "\n");
      await p.kill("SIGKILL");
    });
    return p;
  }

  /** Resolves like `waiting`; a rejection carries this process's last log lines (what it was doing). */
  async explainFailure<T>(waiting: Promise<T>): Promise<T> {
    try {
      return await waiting;
    } catch (err) {
      const tail = [...this.logs.slice(-40).map((l) => JSON.stringify(l)), ...this.stderr.slice(-10)].join("\n");
      if (err instanceof Error) err.message += `\nlast log lines of the controller process:\n${tail}`;
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  isRunning(): boolean {
    return this.running;
  }

  /**
   * SIGKILL takes down node and every process it started (git and its helpers run in their own process
   * groups), like a container kill; other signals go to node only.
   */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    if (signal !== "SIGKILL") {
      process.kill(this.pid, signal);
      return;
    }
    // Like a container runtime killing the container's cgroup: every descendant, and each one's process group
    // (a git that forks after the listing stays in its group), then wait until none is left.
    const victims = [this.pid, ...descendants(this.pid)];
    const send = (pid: number) => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    for (const pid of victims) send(pid);
    for (const pid of victims.slice(1)) send(-pid);
    await this.exited;
    await waitFor(() => victims.every(gone), {
      what: "the killed controller's processes gone",
      timeoutMs: 10_000,
      intervalMs: 20,
    });
  }

  has(msg: string): boolean {
    return this.logs.some((l) => l.msg === msg);
  }

  async waitLog(msg: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    return waitFor(() => {
      if (!this.running) throw new Error(`controller exited; stderr: ${this.stderr.join("").slice(-2000)}`);
      return this.logs.find((l) => l.msg === msg);
    }, { what: `controller log "${msg}"`, timeoutMs, intervalMs: 100 });
  }
}

/** The process has exited (no longer in /proc, or a zombie not yet reaped). */
function gone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Pids of all descendants of pid, from /proc (Linux). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Every file under dir, relative, sorted ("a/b/c.tar.gz"); directories that hold nothing are listed with a trailing "/". */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    const entries = fs.readdirSync(d, { withFileTypes: true });
    if (!entries.length && rel) out.push(rel + "/");
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  if (fs.existsSync(dir)) walk(dir, "");
  return out.sort();
}

/** A fresh directory under the OS temp directory, removed when the test ends. */
export function tempDir(t: TestContext, prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}
