// The reference fleet (test/fixtures/reference-fleet, the layout of Flux's flux2-kustomize-helm-example) as
// its authors wrote it, URLs aside: bootstrap's GitRepository and Kustomization, an ArtifactGenerator splitting
// the repository into ExternalArtifacts, Kustomizations on them with dependsOn and a JSON patch, a HelmRelease
// from an OCIRepository (chart pushed with `helm push` to Debian's docker-registry) and one from a
// HelmRepository with staging values patched on by a kustomize overlay. Source, kustomize, helm and
// source-watcher run as their own ServiceAccounts.
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";
import { newLogger } from "../../../controllers/runtime/log";
import { isNotFound, type ResourceRef } from "../../../controllers/runtime/kube";
import { startControllers, type RunningControllers } from "../../../controllers/main";
import {
  ArtifactGeneratorKind,
  ExternalArtifactKind,
  HelmReleaseKind,
  helmControllerRbac,
  sourceWatcherRbac,
  type ArtifactGenerator,
  type ExternalArtifact,
  type GitRepository,
  type HelmRelease,
  type Kustomization,
} from "../../../controllers/api";
import { projectRoot, toolPath } from "../../../local/tools";
import { newNamespace, serviceAccountKubeconfig, waitFor } from "../../harness/cluster";
import { TestRepo } from "../../fixtures/gitserver/repo";
import { startHttpGitServer, type HttpGitServer } from "../../fixtures/gitserver/http";
import { startRegistry, type Registry } from "../../fixtures/registry/registry";
import { startChartRepo, type ChartRepoServer } from "../../fixtures/helmrepo/server";
import { adminApply, ConfigMaps, CRDs, GitRepos, Kustomizations, Namespaces, startKustomizeEnv, type KustomizeEnv } from "../kustomize/env";

const fleetDir = path.join(projectRoot(), "test", "fixtures", "reference-fleet");
const chartsDir = path.join(projectRoot(), "test", "fixtures", "reference-charts");
const OCIRepositories: ResourceRef = { kind: "OCIRepository", group: "source.toolkit.fluxcd.io", version: "v1", plural: "ocirepositories", namespaced: true };
const ClusterIssuers: ResourceRef = { kind: "ClusterIssuer", group: "cert-manager.io", version: "v1", plural: "clusterissuers", namespaced: false };
type Cond = { type: string; status: string; reason: string; message: string };
const ready = (o: { status?: { conditions?: Cond[] } } | undefined) => o?.status?.conditions?.find((c) => c.type === "Ready");

let env: KustomizeEnv;
let helmCtl: RunningControllers;
let watcher: RunningControllers;
let registry: Registry;
let charts: ChartRepoServer;
let repo: TestRepo;
let git: HttpGitServer;
const stop = new AbortController();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-reference-fleet-"));

/** Every file of the fleet, with the example's URLs pointed at this test's servers. */
function fleetFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(fleetDir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else
        files[p] = fs
          .readFileSync(path.join(fleetDir, p), "utf8")
          .replaceAll("http://git.fleet.invalid", git.url)
          .replaceAll("http://charts.fleet.invalid", charts.url)
          .replaceAll("oci://registry.fleet.invalid", `oci://${registry.host}`);
    }
  };
  walk("");
  return files;
}

before(async () => {
  env = await startKustomizeEnv();
  for (const o of helmControllerRbac(env.controllerNamespace)) await adminApply(env.admin, o);
  for (const o of sourceWatcherRbac(env.controllerNamespace)) await adminApply(env.admin, o);
  const helmSa = await serviceAccountKubeconfig({ namespace: env.controllerNamespace, name: "helm-controller" });
  const watcherSa = await serviceAccountKubeconfig({ namespace: env.controllerNamespace, name: "source-watcher" });
  helmCtl = await startControllers({ controllers: ["helm"], kubeConfig: helmSa.kubeConfig, helmHelperPath: await toolPath("mooring-helm"), requeueDependency: "2s", metricsAddr: "", healthAddr: "", log: newLogger("error") }, stop.signal);
  watcher = await startControllers({ controllers: ["source-watcher"], kubeConfig: watcherSa.kubeConfig, storagePath: path.join(scratch, "watcher"), storageAddr: "127.0.0.1:0", metricsAddr: "", healthAddr: "", log: newLogger("error") }, stop.signal);

  // The infrastructure chart in an OCI registry, pushed as its publisher does; the app chart in an HTTP repository.
  const helm = await toolPath("helm");
  registry = await startRegistry(path.join(scratch, "registry"));
  const pkg = path.join(scratch, "packages");
  execFileSync(helm, ["package", path.join(chartsDir, "cert-manager"), "--destination", pkg], { stdio: "pipe" });
  execFileSync(helm, ["push", path.join(pkg, "cert-manager-1.19.1.tgz"), `oci://${registry.host}/jetstack/charts`, "--plain-http", "--registry-config", path.join(scratch, "registry.json")], { stdio: "pipe" });
  const repoDir = path.join(scratch, "chart-repo");
  execFileSync(helm, ["package", path.join(chartsDir, "podinfo"), "--destination", path.join(repoDir, "podinfo")], { stdio: "pipe" });
  charts = await startChartRepo(repoDir);
  execFileSync(helm, ["repo", "index", path.join(repoDir, "podinfo"), "--url", `${charts.url}/podinfo`], { stdio: "pipe" });

  repo = new TestRepo("fleet");
  git = await startHttpGitServer(repo.root);
});

after(async () => {
  // The fleet removes what it made: deleting the sync Kustomization prunes the others, and their releases.
  try {
    await env.admin.delete(Kustomizations, "flux-system", "flux-system");
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await waitFor(async () => {
    for (const ns of ["podinfo", "cert-manager"]) {
      try {
        await env.admin.get(Namespaces, undefined, ns);
        return false;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return true;
  }, { what: "the fleet's namespaces pruned", timeoutMs: 120_000 }).catch(() => undefined);
  for (const [ref, name] of [[GitRepos, "flux-system"], [ArtifactGeneratorKind.resource, "flux-system"]] as const) await env.admin.delete(ref, "flux-system", name).catch(() => undefined);
  stop.abort();
  await Promise.all([helmCtl?.done, watcher?.done]);
  await registry?.close();
  await charts?.close();
  await git?.close();
  repo?.cleanup();
  await env?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

async function waitObject<T extends { status?: { conditions?: Cond[] }; metadata: { generation?: number } }>(ref: ResourceRef, ns: string | undefined, name: string, pred: (o: T) => boolean, what: string, timeoutMs = 180_000): Promise<T> {
  let last: T | undefined;
  try {
    return await waitFor(async () => {
      try {
        last = await env.admin.get<T>(ref, ns, name);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      return pred(last) ? last : undefined;
    }, { what, timeoutMs, intervalMs: 250 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
}

const isReady = (o: { status?: { conditions?: Cond[] } }) => ready(o)?.status === "True";

test("the reference fleet reconciles as written: generator → ExternalArtifacts → infrastructure (OCI chart) → configs (patched) → apps (HelmRepository chart, staging values)", async () => {
  const sha = repo.commit(fleetFiles(), "the reference fleet");
  const revision = `main@sha1:${sha}`;
  // What `flux bootstrap` applies: the namespace and clusters/staging/flux-system/gotk-sync.yaml.
  try {
    await env.admin.create(Namespaces, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-system" } });
  } catch (err) {
    if (!(err as { status?: number }).status || (err as { status?: number }).status !== 409) throw err;
  }
  const sync = parseAllDocuments(fleetFiles()["clusters/staging/flux-system/gotk-sync.yaml"]!).map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace: string } });
  for (const o of sync) await env.admin.create(o.kind === "GitRepository" ? GitRepos : Kustomizations, o.metadata.namespace, o);

  const ks = (name: string) => waitObject<Kustomization>(Kustomizations, "flux-system", name, (k) => isReady(k) && k.status?.observedGeneration === k.metadata.generation, `Kustomization ${name} Ready`);
  const root = await ks("flux-system");
  assert.equal(root.status?.lastAppliedRevision, revision);

  const gen = await waitObject<ArtifactGenerator>(ArtifactGeneratorKind.resource, "flux-system", "flux-system", isReady, "ArtifactGenerator Ready");
  assert.deepEqual(gen.status!.inventory!.map((r) => r.name).sort(), ["apps", "infrastructure"]);
  for (const name of ["infrastructure", "apps"]) {
    const ea = await waitObject<ExternalArtifact>(ExternalArtifactKind.resource, "flux-system", name, isReady, `ExternalArtifact ${name} Ready`);
    assert.equal(ea.status!.artifact!.metadata?.["org.opencontainers.image.revision"], revision, `${name} records its origin revision`);
  }

  const infra = await ks("infra-controllers");
  assert.equal(infra.status?.lastAppliedOriginRevision, revision);
  await waitObject(OCIRepositories, "cert-manager", "cert-manager", isReady, "OCIRepository cert-manager Ready");
  const certManager = await waitObject<HelmRelease>(HelmReleaseKind.resource, "cert-manager", "cert-manager", isReady, "HelmRelease cert-manager Ready");
  assert.equal(certManager.status?.history?.[0]?.chartVersion, "1.19.1");
  await env.admin.get(CRDs, undefined, "clusterissuers.cert-manager.io");
  assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, "cert-manager", "cert-manager-config")).data.enableGatewayAPI, "true");

  await ks("infra-configs");
  const issuer = await env.admin.get<{ spec: { acme: { server: string; email: string } } }>(ClusterIssuers, undefined, "letsencrypt");
  assert.equal(issuer.spec.acme.server, "https://acme-staging.fleet.invalid/directory", "the staging patch replaced the ACME server");
  assert.equal(issuer.spec.acme.email, "fleet@mooring.invalid");

  const apps = await ks("apps");
  assert.equal(apps.status?.lastAppliedOriginRevision, revision);
  await waitObject<HelmRelease>(HelmReleaseKind.resource, "podinfo", "podinfo", isReady, "HelmRelease podinfo Ready");
  const values = (await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, "podinfo", "podinfo")).data;
  assert.deepEqual(values, { hostnames: "podinfo.staging", redis: "true", redisTag: "8.6.2" }, "base values with the staging overlay's patch on top");

  // A change to the staging values, pushed: it goes through the generator and the apps Kustomization to a Helm upgrade.
  const next = repo.commit({ "apps/staging/podinfo-values.yaml": fleetFiles()["apps/staging/podinfo-values.yaml"]!.replace("podinfo.staging", "podinfo.staging.example") }, "staging: new host name");
  await env.admin.patch(GitRepos, "flux-system", "flux-system", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `${Date.now()}` } } });
  await waitObject<Kustomization>(Kustomizations, "flux-system", "apps", (k) => k.status?.lastAppliedOriginRevision === `main@sha1:${next}` && isReady(k), "apps applied the new revision");
  await waitFor(async () => (await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, "podinfo", "podinfo")).data.hostnames === "podinfo.staging.example", { what: "podinfo upgraded with the new host name", timeoutMs: 120_000 });
  const upgraded = await env.admin.get<HelmRelease>(HelmReleaseKind.resource, "podinfo", "podinfo");
  assert.equal(upgraded.status?.history?.length, 2, "one upgrade, a second release revision");
  const infraAfter = await env.admin.get<Kustomization>(Kustomizations, "flux-system", "infra-controllers");
  assert.equal(infraAfter.status?.lastAppliedRevision, infra.status?.lastAppliedRevision, "the infrastructure artifact did not change, so it was not re-applied");
  const gitRepo = await env.admin.get<GitRepository>(GitRepos, "flux-system", "flux-system");
  assert.equal(gitRepo.status?.artifact?.revision, `main@sha1:${next}`);
});

test("a HelmRelease from an ExternalArtifact: the generator packs a chart directory from git, the release installs it and upgrades on the next commit", async (t) => {
  const ns = await newNamespace(t);
  const chartRepo = new TestRepo("charts");
  const chartGit = await startHttpGitServer(chartRepo.root);
  t.after(async () => {
    await env.admin.delete(HelmReleaseKind.resource, ns, "podinfo").catch(() => undefined);
    await waitFor(async () => {
      try {
        await env.admin.get(HelmReleaseKind.resource, ns, "podinfo");
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    }, { what: "HelmRelease uninstalled", timeoutMs: 60_000 }).catch(() => undefined);
    await env.admin.delete(ArtifactGeneratorKind.resource, ns, "charts").catch(() => undefined);
    await chartGit.close();
    chartRepo.cleanup();
  });
  const chartFiles = (version: string, extra = ""): Record<string, string> => {
    const files: Record<string, string> = {};
    for (const rel of ["Chart.yaml", "values.yaml", "templates/configmap.yaml"]) {
      let text = fs.readFileSync(path.join(chartsDir, "podinfo", rel), "utf8");
      if (rel === "Chart.yaml") text = text.replace(/^version: .*$/m, `version: ${version}`);
      if (rel === "templates/configmap.yaml") text += extra;
      files[`charts/podinfo/${rel}`] = text;
    }
    return files;
  };
  chartRepo.commit(chartFiles("6.9.2"), "podinfo chart");
  await env.admin.create(GitRepos, ns, { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", metadata: { name: "charts", namespace: ns }, spec: { url: `${chartGit.url}/charts.git`, interval: "1h", ref: { branch: "main" } } });
  await env.admin.create(ArtifactGeneratorKind.resource, ns, {
    apiVersion: ArtifactGeneratorKind.apiVersion,
    kind: "ArtifactGenerator",
    metadata: { name: "charts", namespace: ns },
    spec: { sources: [{ alias: "repo", kind: "GitRepository", name: "charts" }], artifacts: [{ name: "podinfo-chart", originRevision: "@repo", copy: [{ from: "@repo/charts/podinfo/", to: "@artifact/" }] }] },
  });
  await env.admin.create(HelmReleaseKind.resource, ns, {
    apiVersion: HelmReleaseKind.apiVersion,
    kind: "HelmRelease",
    metadata: { name: "podinfo", namespace: ns },
    spec: { interval: "1h", chartRef: { kind: "ExternalArtifact", name: "podinfo-chart" }, values: { httpRoute: { hostnames: ["ea.example"] } } },
  });
  const hr = await waitObject<HelmRelease>(HelmReleaseKind.resource, ns, "podinfo", isReady, "HelmRelease from an ExternalArtifact Ready");
  assert.equal(hr.status?.history?.[0]?.chartVersion, "6.9.2");
  assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "podinfo")).data.hostnames, "ea.example");

  // A new chart version in git: a new ExternalArtifact revision, and the release follows without waiting for its interval.
  chartRepo.commit(chartFiles("6.9.3", "  generation: \"two\"\n"), "podinfo chart 6.9.3");
  await env.admin.patch(GitRepos, ns, "charts", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `${Date.now()}` } } });
  const upgraded = await waitObject<HelmRelease>(HelmReleaseKind.resource, ns, "podinfo", (h) => isReady(h) && h.status?.history?.[0]?.chartVersion === "6.9.3", "HelmRelease upgraded to 6.9.3");
  assert.equal(upgraded.status?.history?.length, 2);
  assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "podinfo")).data.generation, "two");
});
