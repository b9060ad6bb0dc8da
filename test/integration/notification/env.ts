// The notification-controller on the real apiserver, as its ServiceAccount with the exported RBAC, listening
// on loopback; the Flux objects it reads and writes; Prometheus Alertmanager from Debian.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { KubeClient, type ResourceRef } from "../../../controllers/runtime/kube";
import { newLogger } from "../../../controllers/runtime/log";
import { notificationControllerRbac, AlertKind, ProviderKind, ReceiverKind } from "../../../controllers/api";
import { startControllers, type RunningControllers } from "../../../controllers/main";
import { newNamespace, serviceAccountKubeconfig, testKubeConfig, waitFor } from "../../harness/cluster";
import { apply, installCrds } from "../source/env";
import { freePort } from "../source/process";

export const Alerts = AlertKind.resource;
export const Providers = ProviderKind.resource;
export const Receivers = ReceiverKind.resource;
export const Secrets: ResourceRef = { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true };
export const Events: ResourceRef = { kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true };

export interface NotificationEnv {
  admin: KubeClient;
  controller: RunningControllers;
  controllerNamespace: string;
  kubeconfigPath: string;
  /** Every log line of the controller, as text. */
  logText: () => string;
  eventsUrl: string;
  receiverUrl: string;
  stop(): Promise<void>;
}

export async function startNotificationEnv(o: { googleCertsUrl?: string } = {}): Promise<NotificationEnv> {
  const admin = new KubeClient(testKubeConfig());
  await installCrds(admin);
  const controllerNamespace = await newNamespace("mooring-notification-ctl");
  for (const o of notificationControllerRbac(controllerNamespace)) await apply(admin, o);
  const sa = await serviceAccountKubeconfig({ namespace: controllerNamespace, name: "notification-controller" });
  const lines: string[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
  const stop = new AbortController();
  const controller = await startControllers(
    {
      controllers: ["notification"],
      kubeConfig: sa.kubeConfig,
      eventsListenAddr: "127.0.0.1:0",
      receiverAddr: "127.0.0.1:0",
      rateLimitIntervalMs: 60_000,
      googleCertsUrl: o.googleCertsUrl,
      log: newLogger("debug", sink),
    },
    stop.signal,
  );
  const addresses = await waitFor(() => {
    const a = controller.notification!.addresses;
    return a.events && a.receiver && lines.some((l) => l.includes("controllers started")) ? a : undefined;
  }, { what: "notification-controller listening", timeoutMs: 60_000 });
  return {
    admin,
    controller,
    controllerNamespace,
    kubeconfigPath: process.env.MOORING_TEST_KUBECONFIG!,
    logText: () => lines.join(""),
    eventsUrl: `http://${addresses.events}/`,
    receiverUrl: `http://${addresses.receiver}`,
    async stop() {
      stop.abort();
      await controller.done;
      fs.rmSync(path.dirname(sa.path), { recursive: true, force: true });
    },
  };
}

export async function createSecret(admin: KubeClient, namespace: string, name: string, stringData: Record<string, string>): Promise<void> {
  await admin.create(Secrets, namespace, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, stringData });
}

export interface Alertmanager {
  url: string;
  alerts(): Promise<{ labels: Record<string, string>; annotations: Record<string, string>; status: { state: string } }[]>;
  stop(): Promise<void>;
}

/** Debian's prometheus-alertmanager on a loopback port, without clustering, with a receiver that sends nowhere. */
export async function startAlertmanager(): Promise<Alertmanager> {
  const bin = "/usr/bin/prometheus-alertmanager";
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: apt-get install prometheus-alertmanager (.ci/run installs it)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-alertmanager-"));
  fs.writeFileSync(path.join(dir, "alertmanager.yml"), 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n');
  const port = await freePort();
  const child: ChildProcess = spawn(bin, [`--config.file=${path.join(dir, "alertmanager.yml")}`, `--storage.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--cluster.listen-address="], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`alertmanager exited: ${stderr}`);
    return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok;
  }, { what: "alertmanager ready", timeoutMs: 30_000 });
  return {
    url,
    alerts: async () => (await (await fetch(`${url}/api/v2/alerts`)).json()) as Awaited<ReturnType<Alertmanager["alerts"]>>,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
