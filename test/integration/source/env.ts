// Shared setup for source-controller integration tests: CRDs and RBAC installed with the admin identity,
// the controller running in-process as its ServiceAccount, and real git servers (smart HTTP + sshd).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import { newLogger } from "../../../controllers/runtime/log";
import { KubeClient, isNotFound, type ResourceRef } from "../../../controllers/runtime/kube";
import { crds, sourceControllerRbac, GitRepositoryKind, type GitRepository } from "../../../controllers/api";
import { startControllers, type ControllersOptions, type RunningControllers } from "../../../controllers/main";
import { newNamespace, serviceAccountKubeconfig, testKubeConfig, waitFor } from "../../harness/cluster";
import { TestRepo } from "../../fixtures/gitserver/repo";
import { startHttpGitServer, type HttpGitServer } from "../../fixtures/gitserver/http";
import { generateKeyPair, startSshGitServer, type SshGitServer, type SshKeyPair } from "../../fixtures/gitserver/ssh";

export const GitRepos = GitRepositoryKind.resource;
export const Secrets: ResourceRef = { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true };
export const gitCredentials = { username: "fleet-bot", password: "s3cr3t-pa55word" };

const refFor = (o: { apiVersion: string; kind: string }): ResourceRef => {
  const [group, version] = o.apiVersion.includes("/") ? (o.apiVersion.split("/") as [string, string]) : ["", o.apiVersion];
  const plural: Record<string, string> = {
    CustomResourceDefinition: "customresourcedefinitions",
    ServiceAccount: "serviceaccounts",
    ClusterRole: "clusterroles",
    ClusterRoleBinding: "clusterrolebindings",
    Role: "roles",
    RoleBinding: "rolebindings",
  };
  return { kind: o.kind, group, version, plural: plural[o.kind]!, namespaced: ["ServiceAccount", "Role", "RoleBinding"].includes(o.kind) };
};

/** Server-side apply as the admin. */
export async function apply(admin: KubeClient, obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<void> {
  const ref = refFor(obj);
  await admin.patch(ref, obj.metadata.namespace, obj.metadata.name, obj, { contentType: "application/apply-patch+yaml", query: { fieldManager: "mooring-test", force: true } });
}

export interface SourceEnv {
  admin: KubeClient;
  controller: RunningControllers;
  controllerNamespace: string;
  storagePath: string;
  logs: Record<string, unknown>[];
  repo: TestRepo;
  http: HttpGitServer;
  ssh: SshGitServer;
  deployKey: SshKeyPair;
  httpUrl: string;
  sshUrl: string;
  stop(): Promise<void>;
}

/** Applies the CRDs as the admin and waits until they are Established. */
export async function installCrds(admin: KubeClient): Promise<void> {
  for (const crd of crds()) await apply(admin, crd);
  const crdRef: ResourceRef = { kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", namespaced: false };
  for (const crd of crds()) {
    await waitFor(async () => {
      const c = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(crdRef, undefined, crd.metadata.name);
      return c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True");
    }, { what: `CRD ${crd.metadata.name} Established` });
  }
}

/** Starts the source-controller as its ServiceAccount; `extra` options (e.g. size limits) override the test defaults. */
export async function startSourceEnv(extra: Partial<ControllersOptions> = {}): Promise<SourceEnv> {
  // Start the git servers first: a missing sshd is then an immediate, named failure with nothing else running.
  const deployKey = generateKeyPair("deploy-key");
  const ssh = await startSshGitServer(deployKey.publicKey);
  const adminKc = testKubeConfig();
  const admin = new KubeClient(adminKc);
  await installCrds(admin);
  const controllerNamespace = await newNamespace("mooring-source-ctl");
  for (const o of sourceControllerRbac(controllerNamespace)) await apply(admin, o);
  const sa = await serviceAccountKubeconfig({ namespace: controllerNamespace, name: "source-controller" });
  const storagePath = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-storage-"));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const stop = new AbortController();
  const controller = await startControllers(
    {
      controllers: ["source"],
      kubeConfig: sa.kubeConfig,
      storagePath,
      storageAddr: "127.0.0.1:0",
      metricsAddr: "127.0.0.1:0",
      healthAddr: "127.0.0.1:0",
      leaderElect: true,
      leaderElectionNamespace: controllerNamespace,
      concurrent: 2,
      log: newLogger("debug", sink),
      ...extra,
    },
    stop.signal,
  );
  const repo = new TestRepo("fleet");
  const http = await startHttpGitServer(repo.root, gitCredentials);
  await waitFor(() => controller.manager.addresses.health && logs.some((l) => l.msg === "controllers started"), { what: "controllers started", timeoutMs: 60_000 });
  return {
    admin,
    controller,
    controllerNamespace,
    storagePath,
    logs,
    repo,
    http,
    ssh,
    deployKey,
    httpUrl: `${http.url}/fleet.git`,
    sshUrl: ssh.urlFor(repo.bare),
    stop: async () => {
      if (process.env.MOORING_TEST_LOGS) fs.writeFileSync(process.env.MOORING_TEST_LOGS, logs.map((l) => JSON.stringify(l)).join("\n") + "\n");
      stop.abort();
      await controller.done;
      await http.close();
      await ssh.close();
      repo.cleanup();
      fs.rmSync(storagePath, { recursive: true, force: true });
      try {
        await admin.delete({ kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false }, undefined, controllerNamespace);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
  };
}

export function gitRepository(namespace: string, name: string, spec: GitRepository["spec"]): GitRepository {
  return { apiVersion: GitRepositoryKind.apiVersion, kind: "GitRepository", metadata: { name, namespace }, spec };
}

export async function createSecret(admin: KubeClient, namespace: string, name: string, stringData: Record<string, string>): Promise<void> {
  await admin.create(Secrets, namespace, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, stringData });
}

export async function getRepo(admin: KubeClient, namespace: string, name: string): Promise<GitRepository> {
  return admin.get<GitRepository>(GitRepos, namespace, name);
}

const cond = (o: GitRepository, type: string) => o.status?.conditions?.find((c) => c.type === type);

/** Waits until the object was reconciled at its current generation and Ready has the wanted status. */
export async function waitReady(admin: KubeClient, namespace: string, name: string, status: "True" | "False", extra: (o: GitRepository) => boolean = () => true, timeoutMs = 60_000): Promise<GitRepository> {
  return waitFor(async () => {
    const o = await getRepo(admin, namespace, name);
    const ready = cond(o, "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
  }, { what: `GitRepository ${namespace}/${name} Ready=${status}`, timeoutMs, intervalMs: 200 });
}

export async function requestReconcile(admin: KubeClient, namespace: string, name: string): Promise<string> {
  const token = new Date().toISOString() + Math.random().toString(16).slice(2, 6);
  await admin.patch(GitRepos, namespace, name, { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": token } } });
  return token;
}

export async function fetchArtifact(url: string): Promise<{ status: number; digest?: string; bytes?: Buffer }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) return { status: res.status };
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: 200, bytes, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}` };
}

export { cond };
