// Shared setup for kustomize-controller integration tests: CRDs and RBAC installed as the admin, the real
// source-controller and the kustomize-controller running in-process as their own ServiceAccounts, and real
// git repositories served over smart HTTP.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import type { TestContext } from "node:test";
import { newLogger } from "../../../controllers/runtime/log";
import { KubeClient, isNotFound, type ResourceRef } from "../../../controllers/runtime/kube";
import {
  crds,
  kustomizeControllerRbac,
  sourceControllerRbac,
  GitRepositoryKind,
  KustomizationKind,
  type GitRepository,
  type Kustomization,
} from "../../../controllers/api";
import { startControllers, type ControllersOptions, type RunningControllers } from "../../../controllers/main";
import { toolPath } from "../../../local/tools";
import { newNamespace, serviceAccountKubeconfig, testKubeConfig, waitFor } from "../../harness/cluster";
import { TestRepo } from "../../fixtures/gitserver/repo";
import { startHttpGitServer, type HttpGitServer } from "../../fixtures/gitserver/http";

export const GitRepos = GitRepositoryKind.resource;
export const Kustomizations = KustomizationKind.resource;
export const ConfigMaps: ResourceRef = { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true };
export const Secrets: ResourceRef = { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true };
export const Deployments: ResourceRef = { kind: "Deployment", group: "apps", version: "v1", plural: "deployments", namespaced: true };
export const Services: ResourceRef = { kind: "Service", group: "", version: "v1", plural: "services", namespaced: true };
export const Jobs: ResourceRef = { kind: "Job", group: "batch", version: "v1", plural: "jobs", namespaced: true };
export const Namespaces: ResourceRef = { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false };
export const CRDs: ResourceRef = { kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", namespaced: false };
const Events: ResourceRef = { kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true };

const plurals: Record<string, [string, boolean]> = {
  CustomResourceDefinition: ["customresourcedefinitions", false],
  ServiceAccount: ["serviceaccounts", true],
  ClusterRole: ["clusterroles", false],
  ClusterRoleBinding: ["clusterrolebindings", false],
  Role: ["roles", true],
  RoleBinding: ["rolebindings", true],
  ConfigMap: ["configmaps", true],
  Secret: ["secrets", true],
};

/** Server-side apply as the admin (install manifests, fixtures). */
export async function adminApply(admin: KubeClient, obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<void> {
  const [group, version] = obj.apiVersion.includes("/") ? (obj.apiVersion.split("/") as [string, string]) : ["", obj.apiVersion];
  const [plural, namespaced] = plurals[obj.kind]!;
  const ref: ResourceRef = { kind: obj.kind, group, version, plural, namespaced };
  await admin.apply(ref, obj, "mooring-test");
}

export interface KustomizeEnv {
  admin: KubeClient;
  source: RunningControllers;
  kustomize: RunningControllers;
  controllerNamespace: string;
  /** The source-controller's artifact storage directory. */
  storagePath: string;
  logs: Record<string, unknown>[];
  kubeconfigPath: string;
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

export async function startKustomizeEnv(extra: Partial<ControllersOptions> = {}): Promise<KustomizeEnv> {
  const admin = new KubeClient(testKubeConfig());
  for (const crd of crds()) await adminApply(admin, crd);
  for (const crd of crds()) {
    await waitFor(async () => {
      const c = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(CRDs, undefined, crd.metadata.name);
      return c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True");
    }, { what: `CRD ${crd.metadata.name} Established` });
  }
  const controllerNamespace = await newNamespace("mooring-kustomize-ctl");
  for (const o of sourceControllerRbac(controllerNamespace)) await adminApply(admin, o);
  for (const o of kustomizeControllerRbac(controllerNamespace)) await adminApply(admin, o);
  const sourceSa = await serviceAccountKubeconfig({ namespace: controllerNamespace, name: "source-controller" });
  const kustomizeSa = await serviceAccountKubeconfig({ namespace: controllerNamespace, name: "kustomize-controller" });
  const storagePath = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-storage-"));
  const logs: Record<string, unknown>[] = [];
  const stop = new AbortController();
  const source = await startControllers(
    { controllers: ["source"], kubeConfig: sourceSa.kubeConfig, storagePath, storageAddr: "127.0.0.1:0", log: newLogger("info", logSink([])) },
    stop.signal,
  );
  const kustomize = await startControllers(
    {
      controllers: ["kustomize"],
      kubeConfig: kustomizeSa.kubeConfig,
      kustomizePath: await toolPath("kustomize"),
      leaderElect: true,
      leaderElectionNamespace: controllerNamespace,
      noCrossNamespaceRefs: true,
      noRemoteBases: true,
      strictSubstitutions: true,
      requeueDependency: "2s",
      concurrent: 4,
      log: newLogger("debug", logSink(logs)),
      ...extra,
    },
    stop.signal,
  );
  await waitFor(() => logs.some((l) => l.msg === "controllers started"), { what: "kustomize-controller started", timeoutMs: 60_000 });
  return {
    admin,
    source,
    kustomize,
    controllerNamespace,
    storagePath,
    logs,
    kubeconfigPath: process.env.MOORING_TEST_KUBECONFIG!,
    stop: async () => {
      stop.abort();
      await Promise.all([source.done, kustomize.done]);
      fs.rmSync(storagePath, { recursive: true, force: true });
      try {
        await admin.delete(Namespaces, undefined, controllerNamespace);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
  };
}

/** A git repository served over smart HTTP with a GitRepository pointing at it, in a fresh namespace. */
export interface Fleet {
  ns: string;
  repo: TestRepo;
  http: HttpGitServer;
  /** Commits files (null deletes) and waits until the GitRepository has the new revision; returns it. */
  commit(files: Record<string, string | null>, message?: string): Promise<string>;
}

export async function newFleet(t: TestContext, env: KustomizeEnv, files: Record<string, string>): Promise<Fleet> {
  const ns = await newNamespace(t);
  const repo = new TestRepo("fleet");
  const http = await startHttpGitServer(repo.root);
  t.after(async () => {
    // Kustomizations first (their finalizers need the controller), then the server.
    await deleteAllKustomizations(env.admin, ns);
    await http.close();
    repo.cleanup();
  });
  const sha = repo.commit(files, "initial");
  const gr: GitRepository = {
    apiVersion: GitRepositoryKind.apiVersion,
    kind: "GitRepository",
    metadata: { name: "fleet", namespace: ns },
    spec: { url: `${http.url}/fleet.git`, interval: "1h", ref: { branch: "main" } },
  };
  await env.admin.create(GitRepos, ns, gr);
  await waitSourceRevision(env.admin, ns, sha);
  return {
    ns,
    repo,
    http,
    commit: async (f, message = "update") => {
      const next = repo.commit(f, message);
      await env.admin.patch(GitRepos, ns, "fleet", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `${Date.now()}-${Math.random()}` } } });
      await waitSourceRevision(env.admin, ns, next);
      return `main@sha1:${next}`;
    },
  };
}

async function waitSourceRevision(admin: KubeClient, ns: string, sha: string): Promise<void> {
  await waitFor(async () => (await admin.get<GitRepository>(GitRepos, ns, "fleet")).status?.artifact?.revision === `main@sha1:${sha}`, {
    what: `GitRepository ${ns}/fleet at ${sha}`,
    timeoutMs: 60_000,
    intervalMs: 100,
  });
}

async function deleteAllKustomizations(admin: KubeClient, ns: string): Promise<void> {
  const list = await admin.list<Kustomization>(Kustomizations, ns);
  for (const k of list.items) {
    try {
      await admin.delete(Kustomizations, ns, k.metadata.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  await waitFor(async () => (await admin.list<Kustomization>(Kustomizations, ns)).items.length === 0, { what: `Kustomizations in ${ns} deleted`, timeoutMs: 60_000, intervalMs: 200 }).catch(async () => {
    // Do not leave the namespace stuck on a finalizer when a test broke the controller.
    for (const k of (await admin.list<Kustomization>(Kustomizations, ns)).items) await admin.patch(Kustomizations, ns, k.metadata.name, { metadata: { finalizers: null } });
  });
}

export function kustomization(ns: string, name: string, spec: Partial<Kustomization["spec"]>): Kustomization {
  return {
    apiVersion: KustomizationKind.apiVersion,
    kind: "Kustomization",
    metadata: { name, namespace: ns },
    spec: { interval: "10m", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" }, ...spec },
  };
}

export async function createKustomization(env: KustomizeEnv, ns: string, name: string, spec: Partial<Kustomization["spec"]>): Promise<Kustomization> {
  return env.admin.create<Kustomization>(Kustomizations, ns, kustomization(ns, name, spec));
}

export const ready = (k: Kustomization) => k.status?.conditions?.find((c) => c.type === "Ready");
export const cond = (k: Kustomization, type: string) => k.status?.conditions?.find((c) => c.type === type);

/** Waits until Ready has the wanted status at the current generation and extra holds. */
export async function waitKs(env: KustomizeEnv, ns: string, name: string, status: "True" | "False", extra: (k: Kustomization) => boolean = () => true, timeoutMs = 60_000): Promise<Kustomization> {
  let last: Kustomization | undefined;
  try {
    return await waitFor(async () => {
      const k = (last = await env.admin.get<Kustomization>(Kustomizations, ns, name));
      const r = ready(k);
      return r?.status === status && r.observedGeneration === k.metadata.generation && extra(k) ? k : undefined;
    }, { what: `Kustomization ${ns}/${name} Ready=${status}`, timeoutMs, intervalMs: 150 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status?.conditions)}\ncontroller log:\n${logsFor(env, ns, name).split("\n").slice(-30).join("\n")}`);
  }
}

export async function getOrUndefined<T>(admin: KubeClient, ref: ResourceRef, ns: string | undefined, name: string): Promise<T | undefined> {
  try {
    return await admin.get<T>(ref, ns, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export interface KsEvent {
  reason: string;
  note: string;
  type: string;
}

export async function eventsFor(admin: KubeClient, ns: string, name: string): Promise<KsEvent[]> {
  const list = await admin.list<KsEvent & { regarding: { name: string; kind: string } }>(Events, ns);
  return list.items.filter((e) => e.regarding.kind === "Kustomization" && e.regarding.name === name);
}

/** The Kustomization's events once each predicate matches one of them (events are sent in the background). */
export async function eventsMatching(admin: KubeClient, ns: string, name: string, ...want: ((e: KsEvent) => boolean)[]): Promise<KsEvent[]> {
  let seen: KsEvent[] = [];
  try {
    return await waitFor(async () => {
      seen = await eventsFor(admin, ns, name);
      return want.every((p) => seen.some(p)) && seen;
    }, { what: `events of Kustomization ${ns}/${name}`, timeoutMs: 15_000 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; seen: ${JSON.stringify(seen.map((e) => `${e.type} ${e.reason}: ${e.note}`))}`);
  }
}

export async function requestReconcile(admin: KubeClient, ns: string, name: string): Promise<string> {
  const token = `${Date.now()}-${Math.random().toString(16).slice(2, 6)}`;
  await admin.patch(Kustomizations, ns, name, { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": token } } });
  return token;
}

// Manifest snippets used across tests.
export const configMap = (name: string, data: Record<string, string>, ns?: string, annotations?: Record<string, string>): string =>
  `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}\n` : ""}${annotations ? `  annotations:\n${Object.entries(annotations).map(([k, v]) => `    ${k}: "${v}"`).join("\n")}\n` : ""}data:
${Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`).join("\n")}
`;

/** A claim on a StorageClass that does not exist: it never becomes healthy, so a health check on it times out. */
export const stuckClaim = (ns: string): string => `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: ${ns}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: does-not-exist
  resources:
    requests:
      storage: 1Gi
`;

export const deployment = (name: string, ns: string, replicas = 1, image = "registry.invalid/app:1"): string =>
  `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: app
          image: ${image}
`;

/** The controller's log lines about one Kustomization (for failure diagnostics). */
export function logsFor(env: KustomizeEnv, ns: string, name: string): string {
  return env.logs
    .filter((l) => l.namespace === ns && l.name === name)
    .map((l) => { const { time, msg, level, controller: _c, name: _n, namespace: _ns, ...rest } = l; return `${String(time)} ${String(level)} ${String(msg)} ${JSON.stringify(rest)}`; })
    .join("\n");
}
