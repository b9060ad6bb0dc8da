// The floor of a Helm controller that keeps Flux's and Helm's guarantees: per HelmRelease, the requests a
// controller needs at the least to install a chart as Helm does, sent by a plain loop with no controller around
// it (no source fetch, no chart pull, no rendering per release, no events). It tells how much of a controller's
// time is the apiserver work those guarantees cost, and so how fast any controller can be on this machine.
//
// Per release, in order: create the HelmRelease (as the bench does for the controllers); add the finalizer (so
// deleting it uninstalls); list the release's storage Secrets (is the name taken?); write the release as Helm
// does, pending-install (a Secret `sh.helm.release.v1.<name>.v1` holding the gzipped release), so a concurrent
// Helm sees it; create the 4 objects in Helm's install order; wait as `helm install --wait` does, until the
// Deployment's ReplicaSet exists (one shared watch, no request per release); mark the release deployed; write the
// HelmRelease's status (Ready, history). Helm's per-object existence checks are left out: a create of an object
// that exists fails by itself.
import { execFile } from "node:child_process";
import { setMaxListeners } from "node:events";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import * as yaml from "js-yaml";
import pino from "pino";
import type { KubeClient, KubeObject, ResourceRef } from "../controllers/runtime/kube";
import { Informer } from "../controllers/runtime/informer";
import { updateStatus } from "../controllers/runtime/status";
import { newLogger } from "../controllers/runtime/log";
import { FluxFinalizer } from "../controllers/api/meta";
import { toolPath } from "../local/tools";
import { pool, refFor, refs } from "./cluster";

export const helmReleases: ResourceRef = { kind: "HelmRelease", group: "helm.toolkit.fluxcd.io", version: "v2", plural: "helmreleases", namespaced: true };
const replicaSets: ResourceRef = { kind: "ReplicaSet", group: "apps", version: "v1", plural: "replicasets", namespaced: true };

/** Helm's install order of the kinds the bench chart has (Helm's InstallOrder). */
const installOrder = ["ServiceAccount", "Service", "Deployment", "Ingress"];
const placeholder = "helm-floor-release";

/** A chart rendered once by the pinned helm; per release only the name changes. */
export interface FloorChart {
  metadata: Record<string, unknown>;
  values: Record<string, unknown>;
  templates: { name: string; data: string }[];
  /** The manifest as `helm template` prints it, for the release named `placeholder`. */
  manifest: string;
}

/** Renders the chart directory with `helm template` (values: `values` over the chart's own). */
export async function loadFloorChart(chartDir: string, values: Record<string, unknown>): Promise<FloorChart> {
  const helm = await toolPath("helm");
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-helm-floor-"));
  try {
    const valuesFile = path.join(work, "values.json");
    await fs.writeFile(valuesFile, JSON.stringify(values));
    const env = { ...process.env, HELM_CACHE_HOME: `${work}/cache`, HELM_CONFIG_HOME: `${work}/config`, HELM_DATA_HOME: `${work}/data` };
    const manifest = await new Promise<string>((resolve, reject) =>
      execFile(helm, ["template", placeholder, chartDir, "-f", valuesFile], { env }, (err, stdout, stderr) => (err ? reject(new Error(`helm template: ${stderr}`)) : resolve(stdout))),
    );
    const templateDir = path.join(chartDir, "templates");
    const templates = await Promise.all(
      (await fs.readdir(templateDir)).sort().map(async (f) => ({ name: `templates/${f}`, data: (await fs.readFile(path.join(templateDir, f))).toString("base64") })),
    );
    const metadata = yaml.load(await fs.readFile(path.join(chartDir, "Chart.yaml"), "utf8")) as Record<string, unknown>;
    const chartValues = (yaml.load(await fs.readFile(path.join(chartDir, "values.yaml"), "utf8")) ?? {}) as Record<string, unknown>;
    return { metadata, values: chartValues, templates, manifest: manifest.trim() };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Helm's encoding of a release in its storage: gzip of the JSON, base64 (the Secret's data base64s it again). */
function encodeRelease(release: unknown): string {
  return Buffer.from(gzipSync(Buffer.from(JSON.stringify(release)), { level: 9 }).toString("base64")).toString("base64");
}

function storageSecret(name: string, namespace: string, status: string, release: unknown, resourceVersion?: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: `sh.helm.release.v1.${name}.v1`,
      namespace,
      labels: { name, owner: "helm", status, version: "1", modifiedAt: String(Math.floor(Date.now() / 1000)) },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    type: "helm.sh/release.v1",
    data: { release: encodeRelease(release) },
  } as KubeObject;
}

/** The release's objects as Helm creates them: its ownership label and annotations added, in install order. */
function releaseObjects(manifest: string, name: string, namespace: string): KubeObject[] {
  const objects = yaml.loadAll(manifest).filter((d): d is KubeObject => typeof d === "object" && d !== null);
  for (const o of objects) {
    o.metadata.namespace = namespace;
    o.metadata.labels = { ...o.metadata.labels, "app.kubernetes.io/managed-by": "Helm" };
    o.metadata.annotations = { ...o.metadata.annotations, "meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": namespace };
  }
  return objects.sort((a, b) => installOrder.indexOf(a.kind) - installOrder.indexOf(b.kind));
}

/** Resolves per Deployment once a ReplicaSet it owns exists: Helm's wait for a Deployment with 0 replicas. */
class ReplicaSetWait {
  private readonly waiting = new Map<string, () => void>();
  readonly informer: Informer<KubeObject>;

  constructor(client: KubeClient, namespace: string) {
    this.informer = new Informer<KubeObject>(client, replicaSets, newLogger("warn", pino.destination(2)), { namespace });
    this.informer.addIndex("deployment", (rs) => (rs.metadata.ownerReferences ?? []).filter((r) => r.kind === "Deployment").map((r) => r.name));
    this.informer.on((event, rs) => {
      if (event === "delete") return;
      for (const owner of rs.metadata.ownerReferences ?? []) {
        if (owner.kind !== "Deployment") continue;
        this.waiting.get(owner.name)?.();
        this.waiting.delete(owner.name);
      }
    });
  }

  forDeployment(name: string, signal: AbortSignal): Promise<void> {
    if (this.informer.byIndex("deployment", name).length > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const abort = () => {
        this.waiting.delete(name);
        reject(new Error(`Deployment ${name}: no ReplicaSet before the deadline`));
      };
      signal.addEventListener("abort", abort, { once: true });
      this.waiting.set(name, () => {
        signal.removeEventListener("abort", abort);
        resolve();
      });
    });
  }
}

/** The HelmRelease's status once its release is deployed (as Mooring writes it). */
function readyStatus(hr: KubeObject, chart: FloorChart, digest: string, at: string): Record<string, unknown> {
  const message = `Helm install succeeded for release ${hr.metadata.namespace}/${hr.metadata.name}.v1 with chart ${String(chart.metadata.name)}@${String(chart.metadata.version)}`;
  const condition = (type: string, reason: string) => ({ type, status: "True", reason, message, lastTransitionTime: at, observedGeneration: hr.metadata.generation });
  return {
    observedGeneration: hr.metadata.generation,
    lastAttemptedGeneration: hr.metadata.generation,
    lastAttemptedRevision: chart.metadata.version,
    lastAttemptedConfigDigest: digest,
    lastAttemptedReleaseAction: "install",
    storageNamespace: hr.metadata.namespace,
    conditions: [condition("Ready", "InstallSucceeded"), condition("Released", "InstallSucceeded")],
    history: [
      {
        name: hr.metadata.name,
        namespace: hr.metadata.namespace,
        version: 1,
        status: "deployed",
        chartName: chart.metadata.name,
        chartVersion: chart.metadata.version,
        configDigest: digest,
        digest,
        firstDeployed: at,
        lastDeployed: at,
      },
    ],
  };
}

export interface HelmFloorOptions {
  namespace: string;
  /** Releases in flight at once. */
  limit: number;
  /** The HelmRelease of release i (created by the loop). */
  helmRelease: (i: number) => KubeObject;
  chart: FloorChart;
  signal: AbortSignal;
}

/** Runs the loop for releases 1..n. */
export async function runHelmFloor(client: KubeClient, n: number, o: HelmFloorOptions): Promise<void> {
  const wait = new ReplicaSetWait(client, o.namespace);
  const stop = new AbortController();
  const stopped = AbortSignal.any([stop.signal, o.signal]);
  setMaxListeners(0, stopped);
  const watching = wait.informer.run(stopped);
  try {
    await wait.informer.waitForSync(stopped);
    const digest = "sha256:" + "0".repeat(64);
    await pool(Array.from({ length: n }, (_, i) => i + 1), o.limit, async (i) => {
      const created = await client.create<KubeObject>(helmReleases, o.namespace, o.helmRelease(i));
      const name = created.metadata.name;
      const hr = await client.patch<KubeObject>(helmReleases, o.namespace, name, { metadata: { finalizers: [FluxFinalizer], resourceVersion: created.metadata.resourceVersion } });
      const taken = await client.list<KubeObject>(refs.secret, o.namespace, { query: { labelSelector: `name=${name},owner=helm` } });
      if (taken.items.length > 0) throw new Error(`release ${name} exists already`);
      const manifest = o.chart.manifest.replaceAll(placeholder, name);
      const now = new Date().toISOString();
      const release = (status: string, description: string) => ({
        name,
        info: { first_deployed: now, last_deployed: now, deleted: "", description, status },
        chart: { metadata: o.chart.metadata, lock: null, templates: o.chart.templates, values: o.chart.values, schema: null, files: [] },
        config: (hr as { spec?: { values?: unknown } }).spec?.values ?? {},
        manifest,
        version: 1,
        namespace: o.namespace,
      });
      const pending = await client.create<KubeObject>(refs.secret, o.namespace, storageSecret(name, o.namespace, "pending-install", release("pending-install", "Initial install underway")));
      for (const obj of releaseObjects(manifest, name, o.namespace)) await client.create(refFor(obj.apiVersion, obj.kind), o.namespace, obj);
      await wait.forDeployment(name, stopped);
      await client.replace(refs.secret, o.namespace, pending.metadata.name, storageSecret(name, o.namespace, "deployed", release("deployed", "Install complete"), pending.metadata.resourceVersion));
      await updateStatus(client, helmReleases, { ...hr, status: readyStatus(hr, o.chart, digest, now.replace(/\.\d+Z$/, "Z")) });
    });
  } finally {
    stop.abort();
    await watching.catch(() => undefined);
  }
}
