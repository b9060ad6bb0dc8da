// The client of mooring-helm, Mooring's Helm helper (controllers/helm/helper/, Go, built from helm.sh/helm/v3):
// one long-lived child process per helm-controller. Requests are JSON lines on its stdin, answered in any
// order on its stdout (the helper runs each request in its own goroutine). Helm's template engine, hooks, wait
// logic and release storage are Helm's own; this side decides what to run and when.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import type { Logger } from "pino";
import type { StaticCredentials } from "../runtime/kubeconfig";

/** A release version as the helper reports it (HelmRelease status.history fields, plus manifest when asked). */
export interface ReleaseSnapshot {
  digest: string;
  name: string;
  namespace: string;
  version: number;
  status: string;
  chartName: string;
  chartVersion: string;
  appVersion?: string;
  configDigest: string;
  firstDeployed: string;
  lastDeployed: string;
  deleted?: string;
  description?: string;
  testHooks?: Record<string, { lastStarted?: string; lastCompleted?: string; phase?: string }>;
  manifest?: string;
  notes?: string;
}

export interface HelmConnection {
  server: string;
  caData?: string;
  certData?: string;
  keyData?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  insecure?: boolean;
  tlsServerName?: string;
  impersonate?: string;
  qps?: number;
  burst?: number;
}

export interface KustomizePostRenderer {
  kustomize?: { patches?: { patch: string; target?: Record<string, string> }[]; images?: { name: string; newName?: string; newTag?: string; digest?: string }[] };
}

/** One release operation. Which fields matter depends on op. */
export interface HelmRequest {
  op: "status" | "history" | "install" | "upgrade" | "test" | "rollback" | "uninstall" | "unlock";
  impersonate?: string;
  releaseName: string;
  namespace: string;
  storageNamespace?: string;
  chart?: string;
  values?: Record<string, unknown>;
  timeoutMs?: number;
  wait?: boolean;
  waitForJobs?: boolean;
  disableHooks?: boolean;
  disableOpenAPIValidation?: boolean;
  disableSchemaValidation?: boolean;
  crds?: "Skip" | "Create" | "CreateReplace";
  createNamespace?: boolean;
  replace?: boolean;
  force?: boolean;
  cleanupOnFail?: boolean;
  recreate?: boolean;
  maxHistory?: number;
  version?: number;
  keepHistory?: boolean;
  deletionPropagation?: string;
  description?: string;
  labels?: Record<string, string>;
  testFilters?: { name: string; exclude?: boolean }[];
  postRenderers?: KustomizePostRenderer[];
  commonMetadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  withManifest?: boolean;
  /**
   * install: the controller found no release of this name just before, so Helm's own look-up of the name
   * is skipped (a release made meanwhile still stops the install: its first Secret exists).
   */
  firstRelease?: boolean;
}

export interface HelmResponse {
  ok: boolean;
  error?: string;
  release?: ReleaseSnapshot;
  history?: ReleaseSnapshot[];
  notFound?: boolean;
  /** Name and version of the chart a status request named. */
  chart?: { name: string; version: string; appVersion?: string };
}

interface Wire extends HelmResponse {
  id: number;
  version?: string;
}

export class HelperError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HelperError";
  }
}

/** The connection the helper uses: the controller's own credentials (secrets go over the pipe only). */
export function connectionOf(c: StaticCredentials): HelmConnection {
  return {
    server: c.server,
    caData: c.ca?.toString("base64"),
    certData: c.cert?.toString("base64"),
    keyData: c.key?.toString("base64"),
    token: c.token,
    tokenFile: c.tokenFile,
    username: c.basic?.username,
    password: c.basic?.password,
    insecure: c.insecureSkipTlsVerify,
    tlsServerName: c.tlsServerName,
    impersonate: c.impersonate,
  };
}

export interface HelmHelperOptions {
  /** Path of the mooring-helm binary. */
  path: string;
  /** Extra arguments of the helper (e.g. --cpu-profile=<file> for measurements). */
  args?: string[];
  connection: HelmConnection;
  log: Logger;
}

/**
 * The helper process. Started lazily; when it dies, requests in flight fail with a message saying so and
 * the next request starts a new one.
 */
export class HelmHelper {
  private child?: ChildProcessWithoutNullStreams;
  private starting?: Promise<ChildProcessWithoutNullStreams>;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Wire) => void; reject: (e: Error) => void }>();
  private stderrTail = "";
  private closed = false;

  constructor(private readonly o: HelmHelperOptions) {}

  /** The helper's pid, while it runs (for measurements). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async run(req: HelmRequest, signal?: AbortSignal): Promise<HelmResponse> {
    const wire = await this.send(req as unknown as Record<string, unknown>, signal);
    return wire;
  }

  private async ensure(): Promise<ChildProcessWithoutNullStreams> {
    if (this.closed) throw new HelperError("the Helm helper is stopped");
    if (this.child) return this.child;
    this.starting ??= this.start().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async start(): Promise<ChildProcessWithoutNullStreams> {
    const child = spawn(this.o.path, this.o.args ?? [], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, GOMEMLIMIT: process.env.GOMEMLIMIT ?? "150MiB" } });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (err) => reject(new HelperError(`cannot start the Helm helper ${this.o.path}: ${err.message}`)));
    });
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      let msg: Wire;
      try {
        msg = JSON.parse(line) as Wire;
      } catch {
        this.o.log.warn({ line: line.slice(0, 200) }, "unreadable line from the Helm helper");
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      p.resolve(msg);
    });
    child.stderr.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4000);
    });
    child.on("exit", (code, sig) => {
      if (this.child === child) this.child = undefined;
      const why = `the Helm helper exited (${sig ?? `code ${code}`})${this.stderrTail ? `: ${this.stderrTail.trim().split("\n").slice(-3).join(" | ")}` : ""}`;
      if (!this.closed) this.o.log.error({ code, signal: sig }, why);
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new HelperError(why));
      }
    });
    this.child = child;
    const configured = await this.sendOn(child, { op: "configure", connection: this.o.connection });
    if (!configured.ok) throw new HelperError(`the Helm helper refused its configuration: ${configured.error}`);
    this.o.log.info({ pid: child.pid, helm: configured.version }, "Helm helper started");
    return child;
  }

  private async send(body: Record<string, unknown>, signal?: AbortSignal): Promise<Wire> {
    const child = await this.ensure();
    return this.sendOn(child, body, signal);
  }

  private sendOn(child: ChildProcessWithoutNullStreams, body: Record<string, unknown>, signal?: AbortSignal): Promise<Wire> {
    const id = this.nextId++;
    return new Promise<Wire>((resolve, reject) => {
      const onAbort = () => {
        // The helper finishes the operation (Helm's actions cannot be interrupted halfway safely); the
        // answer is dropped.
        this.pending.delete(id);
        reject(signal?.reason instanceof Error ? signal.reason : new HelperError("aborted"));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(id, {
        resolve: (r) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      });
      child.stdin.write(JSON.stringify({ ...body, id }) + "\n");
    });
  }

  /** Closes stdin: the helper finishes what runs and exits. */
  async stop(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
      }, 10_000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin.end();
    });
  }
}
