// Shared setup for helm-controller integration tests: CRDs and RBAC installed as the admin, the helm-controller
// running in-process as its own ServiceAccount with the Helm helper built by the tools, charts packaged by the
// real `helm` CLI and served from a loopback HTTP server as HelmChart artifacts, and the real `helm` CLI to
// read what the controller wrote.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { newLogger } from "../../../controllers/runtime/log";
import { KubeClient, isNotFound, type ResourceRef } from "../../../controllers/runtime/kube";
import { crds, helmControllerRbac, HelmReleaseKind, type HelmRelease } from "../../../controllers/api";
import { HelmChartRef } from "../../../controllers/helm/chart";
import { startControllers, type ControllersOptions, type RunningControllers } from "../../../controllers/main";
import { projectRoot, toolPath } from "../../../local/tools";
import { newNamespace, serviceAccountKubeconfig, testKubeConfig, waitFor } from "../../harness/cluster";
import { adminApply, CRDs } from "../kustomize/env";

export const HelmReleases = HelmReleaseKind.resource;
export const HelmCharts = HelmChartRef;
export const Secrets: ResourceRef = { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true };
export const ConfigMaps: ResourceRef = { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true };
export const Jobs: ResourceRef = { kind: "Job", group: "batch", version: "v1", plural: "jobs", namespaced: true };
export const Pods: ResourceRef = { kind: "Pod", group: "", version: "v1", plural: "pods", namespaced: true };
export const Deployments: ResourceRef = { kind: "Deployment", group: "apps", version: "v1", plural: "deployments", namespaced: true };

export const chartsDir = path.join(projectRoot(), "test", "fixtures", "helm", "charts");

/** Runs the pinned helm CLI against the test cluster. */
export async function helm(args: string[], o: { allowFail?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = await toolPath("helm");
  const home = path.join(os.tmpdir(), "mooring-helm-cli");
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      {
        env: { ...process.env, KUBECONFIG: process.env.MOORING_TEST_KUBECONFIG, HELM_CACHE_HOME: `${home}/cache`, HELM_CONFIG_HOME: `${home}/config`, HELM_DATA_HOME: `${home}/data` },
        timeout: 180_000,
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        if (code !== 0 && !o.allowFail) return reject(new Error(`helm ${args.join(" ")} failed (${code}): ${stderr}`));
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `helm package` of a fixture chart, optionally with another version, into dir. */
export async function packageChart(name: string, dir: string, version?: string): Promise<string> {
  const args = ["package", path.join(chartsDir, name), "-d", dir];
  if (version) args.push("--version", version);
  const out = await helm(args);
  const file = /saved it to: (.+\.tgz)/.exec(out.stdout)?.[1]?.trim();
  if (!file) throw new Error(`helm package wrote no chart: ${out.stdout}`);
  return file;
}

export interface ChartServer {
  url: string;
  /** Publishes a chart file as the artifact of HelmChart namespace/name (its status written as the source-controller would). */
  publish(admin: KubeClient, namespace: string, name: string, file: string, version: string): Promise<void>;
  close(): Promise<void>;
}

/** A loopback chart server; pods reach it when host is the node address of the cluster. */
export async function startChartServer(host = "127.0.0.1"): Promise<ChartServer> {
  const files = new Map<string, Buffer>();
  const server = http.createServer((req, res) => {
    const body = files.get(req.url ?? "");
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/gzip", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async publish(admin, namespace, name, file, version) {
      const bytes = fs.readFileSync(file);
      const artifactPath = `helmchart/${namespace}/${name}/${path.basename(file)}`;
      files.set(`/${artifactPath}`, bytes);
      const chart = { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "HelmChart", metadata: { name, namespace }, spec: { chart: "mooring-demo", sourceRef: { kind: "HelmRepository", name: "fixture" }, interval: "10m" } };
      try {
        await admin.get(HelmCharts, namespace, name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await admin.create(HelmCharts, namespace, chart);
      }
      const artifact = {
        path: artifactPath,
        url: `${url}/${artifactPath}`,
        revision: version,
        digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
        lastUpdateTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        size: bytes.length,
      };
      const conditions = [{ type: "Ready", status: "True", reason: "ChartPullSucceeded", message: `pulled 'mooring-demo' chart with version '${version}'`, lastTransitionTime: artifact.lastUpdateTime }];
      await admin.patch(HelmCharts, namespace, name, { status: { artifact, conditions, observedGeneration: 1 } }, { subresource: "status" });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface HelmEnv {
  admin: KubeClient;
  helm: RunningControllers;
  controllerNamespace: string;
  logs: Record<string, unknown>[];
  charts: ChartServer;
  chartDir: string;
  stop(): Promise<void>;
}

function logSink(logs: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
}

/** CRDs of the kinds the helm-controller watches (OCIRepository until the source-controller serves it). */
function watchedCrds() {
  const all = crds();
  if (!all.some((c) => c.metadata.name === "ocirepositories.source.toolkit.fluxcd.io")) {
    all.push({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "ocirepositories.source.toolkit.fluxcd.io" },
      spec: {
        group: "source.toolkit.fluxcd.io",
        names: { kind: "OCIRepository", listKind: "OCIRepositoryList", plural: "ocirepositories", singular: "ocirepository" },
        scope: "Namespaced",
        versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } }, subresources: { status: {} } }],
      },
    });
  }
  return all;
}

export async function startHelmEnv(extra: Partial<ControllersOptions> = {}): Promise<HelmEnv> {
  const admin = new KubeClient(testKubeConfig());
  const all = watchedCrds();
  for (const crd of all) await adminApply(admin, crd);
  for (const crd of all) {
    await waitFor(async () => {
      const c = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(CRDs, undefined, crd.metadata.name);
      return c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True");
    }, { what: `CRD ${crd.metadata.name} Established` });
  }
  const controllerNamespace = await newNamespace("mooring-helm-ctl");
  for (const o of helmControllerRbac(controllerNamespace)) await adminApply(admin, o);
  const sa = await serviceAccountKubeconfig({ namespace: controllerNamespace, name: "helm-controller" });
  const logs: Record<string, unknown>[] = [];
  const stop = new AbortController();
  const running = await startControllers(
    {
      controllers: ["helm"],
      kubeConfig: sa.kubeConfig,
      helmHelperPath: await toolPath("mooring-helm"),
      requeueDependency: "2s",
      minRetryDelayMs: 500,
      maxRetryDelayMs: 5000,
      metricsAddr: "",
      healthAddr: "",
      log: newLogger("debug", logSink(logs)),
      ...extra,
    },
    stop.signal,
  );
  await waitFor(() => logs.some((l) => l.msg === "controllers started"), { what: "helm-controller started", timeoutMs: 60_000 });
  const charts = await startChartServer();
  const chartDir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-charts-"));
  return {
    admin,
    helm: running,
    controllerNamespace,
    logs,
    charts,
    chartDir,
    async stop() {
      stop.abort(new Error("test finished"));
      await running.done;
      await charts.close();
      fs.rmSync(chartDir, { recursive: true, force: true });
    },
  };
}

type Cond = { type: string; status: string; reason: string; message: string };

export const condition = (hr: HelmRelease | undefined, type: string): Cond | undefined => (hr?.status?.conditions as Cond[] | undefined)?.find((c) => c.type === type);

/** Waits until the HelmRelease's status satisfies pred, at its current generation; returns it. */
export async function waitForRelease(admin: KubeClient, namespace: string, name: string, pred: (hr: HelmRelease) => boolean, what: string, timeoutMs = 120_000): Promise<HelmRelease> {
  let last: HelmRelease | undefined;
  try {
    return await waitFor(
      async () => {
        last = await admin.get<HelmRelease>(HelmReleases, namespace, name);
        return last.status?.observedGeneration === last.metadata.generation && pred(last) ? last : undefined;
      },
      { what, timeoutMs, intervalMs: 250 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status?.conditions)}`);
  }
}

/**
 * The usual steps of a test on releases of one chart: create(name, spec) makes a HelmRelease from the
 * HelmChart `chart` (interval 10m, then `defaults`, then spec), ready(name) waits for its Ready=True.
 */
export function chartReleases(env: () => HelmEnv, ns: () => string, chart: string, defaults: Partial<HelmRelease["spec"]> = {}) {
  return {
    create: (name: string, spec: Partial<HelmRelease["spec"]>) =>
      env().admin.create(HelmReleases, ns(), {
        apiVersion: "helm.toolkit.fluxcd.io/v2",
        kind: "HelmRelease",
        metadata: { name, namespace: ns() },
        spec: { interval: "10m", chartRef: { kind: "HelmChart", name: chart }, ...defaults, ...spec },
      }),
    ready: (name: string, what = `HelmRelease ${name} Ready`) => waitForRelease(env().admin, ns(), name, (r) => condition(r, "Ready")?.status === "True", what, 180_000),
  };
}
