// The controllers as local processes with the identity of their in-cluster ServiceAccounts. The local
// control plane has no container runtime: the installed Deployments never really run, so the same
// controllers run here, each authenticated by a TokenRequest token of its ServiceAccount (proving the
// install's RBAC), detached and recorded in DIR/extra-processes.json for `mooring local down`.
import { promises as fs, readFileSync } from "node:fs";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { controllerEnv, controllerNodeFlags } from "../controllers/process";
import { renderKubeconfig } from "./kubeconfig";
import { freePort } from "./ports";
import { spawnDetached, startMarker } from "./processes";
import { extraRunning, readExtras, recordExtra, stopExtra, type ExtraProcess } from "./extras";
import { projectRoot } from "./tools";

export type LocalControllerName = "source" | "kustomize";

export interface LocalControllersOptions {
  /** Directory for kubeconfigs, storage, logs and the process record (e.g. the control plane's DIR). */
  dir: string;
  /** Admin kubeconfig path (used only to request the ServiceAccount tokens). */
  adminKubeconfig: string;
  /** Install namespace holding the ServiceAccounts. Default `flux-system`. */
  namespace?: string;
  /** Default both. */
  controllers?: LocalControllerName[];
  /** Token lifetime. Default 24 h. */
  tokenSeconds?: number;
  log?: (line: string) => void;
}

export interface LocalController extends ExtraProcess {
  controller: LocalControllerName;
  kubeconfig: string;
}

function clusterOf(kc: k8s.KubeConfig): { server: string; caPem: string } {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const caPem = cluster.caData ? Buffer.from(cluster.caData, "base64").toString("utf8") : cluster.caFile ? readFileSync(cluster.caFile, "utf8") : "";
  return { server: cluster.server, caPem };
}

/** A kubeconfig for ServiceAccount namespace/name with a fresh TokenRequest token. */
export async function serviceAccountKubeconfig(adminKubeconfig: string, namespace: string, name: string, file: string, seconds = 86_400): Promise<string> {
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(adminKubeconfig);
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({ namespace, name, body: { spec: { audiences: [], expirationSeconds: seconds } } });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ServiceAccount ${namespace}/${name} returned no token`);
  const { server, caPem } = clusterOf(admin);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, renderKubeconfig({ name: `${namespace}-${name}`, server, caPem, user: { token }, namespace }), { mode: 0o600 });
  return file;
}

/** Start (or restart) each controller as a detached local process; returns what runs. */
export async function startLocalControllers(o: LocalControllersOptions): Promise<LocalController[]> {
  const namespace = o.namespace ?? "flux-system";
  const base = path.join(path.resolve(o.dir), "controllers");
  await fs.mkdir(base, { recursive: true });
  const script = path.join(projectRoot(), "bin", "mooring.js");
  const started: LocalController[] = [];
  for (const controller of o.controllers ?? ["source", "kustomize"]) {
    const name = `${controller}-controller`;
    await stopExtra(path.resolve(o.dir), name, o.log);
    const kubeconfig = await serviceAccountKubeconfig(o.adminKubeconfig, namespace, name, path.join(base, `${name}.kubeconfig`), o.tokenSeconds);
    const args = [
      ...controllerNodeFlags,
      script,
      "controllers",
      `--controllers=${controller}`,
      `--kubeconfig=${kubeconfig}`,
      `--metrics-addr=127.0.0.1:${await freePort()}`,
      `--health-addr=127.0.0.1:${await freePort()}`,
      "--log-level=info",
    ];
    if (controller === "source") {
      const port = await freePort();
      args.push(`--storage-path=${path.join(base, "storage")}`, `--storage-addr=127.0.0.1:${port}`, `--storage-adv-addr=127.0.0.1:${port}`);
    }
    const log = path.join(base, `${name}.log`);
    await fs.appendFile(log, startMarker(process.execPath, args));
    const spawned = spawnDetached(process.execPath, args, log, { ...process.env, ...controllerEnv, RUNTIME_NAMESPACE: namespace });
    const entry: LocalController = {
      name,
      controller,
      pid: spawned.pid,
      binary: process.execPath,
      marker: `--kubeconfig=${kubeconfig}`,
      log,
      startedAt: new Date().toISOString(),
      kubeconfig,
    };
    await recordExtra(path.resolve(o.dir), entry);
    o.log?.(`started ${name} (pid ${spawned.pid}) as system:serviceaccount:${namespace}:${name}; log ${log}`);
    started.push(entry);
  }
  return started;
}

/** The recorded local controllers that still run. */
export async function runningLocalControllers(dir: string): Promise<ExtraProcess[]> {
  const out: ExtraProcess[] = [];
  for (const p of await readExtras(path.resolve(dir))) if (p.name.endsWith("-controller") && (await extraRunning(p))) out.push(p);
  return out;
}

export async function stopLocalControllers(dir: string, log?: (line: string) => void): Promise<void> {
  for (const name of ["kustomize-controller", "source-controller"]) await stopExtra(path.resolve(dir), name, log);
}
