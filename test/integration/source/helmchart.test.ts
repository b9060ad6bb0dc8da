// HelmChart from a HelmRepository on the real control plane, run with the source-controller's ServiceAccount,
// against a chart repository on loopback; charts packaged and indexed by the pinned helm CLI, and the
// artifacts read back with it.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes, createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { HelmChartKind, HelmRepositoryKind, type HelmChart, type HelmRepository } from "../../../controllers/api";
import type { KubeClient } from "../../../controllers/runtime/kube";
import { toolPath } from "../../../local/tools";
import { newNamespace, waitFor } from "../../harness/cluster";
import { publishCharts, startChartRepo, type ChartRepoServer } from "../../fixtures/helmrepo/server";
import { cond, createSecret, fetchArtifact, Secrets, startSourceEnv, type SourceEnv } from "./env";

const HelmRepos = HelmRepositoryKind.resource;
const HelmCharts = HelmChartKind.resource;
const creds = { username: "chart-reader", password: "chart-pass-0451" };

function helmChart(namespace: string, name: string, spec: Partial<HelmChart["spec"]> & { chart: string }): HelmChart {
  return { apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name, namespace }, spec: { interval: "10m", sourceRef: { kind: "HelmRepository", name: "charts" }, ...spec } };
}

async function waitChart(admin: KubeClient, ns: string, name: string, status: "True" | "False", extra: (o: HelmChart) => boolean = () => true, timeoutMs = 60_000): Promise<HelmChart> {
  return waitFor(async () => {
    const o = await admin.get<HelmChart>(HelmCharts, ns, name);
    const ready = cond(o as never, "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
  }, { what: `HelmChart ${ns}/${name} Ready=${status}`, timeoutMs, intervalMs: 200 });
}

const c = (o: HelmChart, type: string) => cond(o as never, type);
const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("HelmChart from a HelmRepository (source.toolkit.fluxcd.io/v1)", () => {
  let env: SourceEnv;
  let scratch: string;
  let helm: string;

  before(async () => {
    env = await startSourceEnv();
    helm = await toolPath("helm");
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-helmchart-"));
  });
  after(async () => {
    await env?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** A chart repository of its own for one test, with a HelmRepository "charts" pointing at it. */
  async function repoFor(t: { after: (fn: () => Promise<void>) => void }, ns: string, charts: Parameters<typeof publishCharts>[2], o: { credentials?: boolean; baseUrl?: (server: ChartRepoServer) => string } = {}) {
    const dir = path.join(scratch, ns);
    fs.mkdirSync(dir, { recursive: true });
    const server = await startChartRepo(dir, o.credentials ? { credentials: creds } : {});
    t.after(() => server.close());
    await publishCharts(dir, path.join(scratch, `${ns}-src`), charts, o.baseUrl?.(server));
    const spec: HelmRepository["spec"] = { url: server.url, interval: "10m" };
    if (o.credentials) {
      await createSecret(env.admin, ns, "helm-auth", creds);
      spec.secretRef = { name: "helm-auth" };
    }
    await env.admin.create(HelmRepos, ns, { apiVersion: HelmRepositoryKind.apiVersion, kind: "HelmRepository", metadata: { name: "charts", namespace: ns }, spec });
    await waitFor(async () => (await env.admin.get<HelmRepository>(HelmRepos, ns, "charts")).status?.artifact, { what: "HelmRepository artifact" });
    return { dir, server, publish: (more: Parameters<typeof publishCharts>[2]) => publishCharts(dir, path.join(scratch, `${ns}-src`), more, o.baseUrl?.(server)) };
  }

  async function refreshRepo(ns: string): Promise<void> {
    await env.admin.patch(HelmRepos, ns, "charts", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `${Date.now()}` } } });
  }

  test("an exact version is pulled as published: Ready (ChartPullSucceeded), the artifact is the repository's .tgz", async (t) => {
    const ns = await newNamespace(t);
    const { dir } = await repoFor(t, ns, [{ name: "podinfo", version: "1.0.0" }, { name: "podinfo", version: "1.2.0" }], { credentials: true });
    await env.admin.create(HelmCharts, ns, helmChart(ns, "podinfo", { chart: "podinfo", version: "1.2.0" }));
    const o = await waitChart(env.admin, ns, "podinfo", "True");
    const art = o.status!.artifact!;
    assert.equal(art.revision, "1.2.0");
    assert.equal(art.path, `helmchart/${ns}/podinfo/podinfo-1.2.0.tgz`);
    assert.equal(c(o, "Ready")!.reason, "ChartPullSucceeded");
    assert.equal(c(o, "Ready")!.message, "pulled 'podinfo' chart with version '1.2.0'");
    assert.equal(c(o, "ArtifactInStorage")!.message, "pulled 'podinfo' chart with version '1.2.0'");
    assert.equal(c(o, "ArtifactInStorage")!.reason, "ChartPullSucceeded");
    assert.equal(o.status!.observedChartName, "podinfo");
    const repo = await env.admin.get<HelmRepository>(HelmRepos, ns, "charts");
    assert.equal(o.status!.observedSourceArtifactRevision, repo.status!.artifact!.revision);
    const published = fs.readFileSync(path.join(dir, "podinfo-1.2.0.tgz"));
    const served = await fetchArtifact(art.url);
    assert.equal(served.digest, sha256(published), "pulled as is");
    assert.equal(art.digest, served.digest);
    assert.ok(o.status!.url!.endsWith(`/helmchart/${ns}/podinfo/latest.tar.gz`));
    await waitFor(async () => {
      const evs = await env.admin.list<{ reason: string; note: string; regarding: { name: string } }>({ kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true }, ns);
      return evs.items.some((e) => e.reason === "ChartPullSucceeded" && e.regarding.name === "podinfo" && e.note === "pulled 'podinfo' chart with version '1.2.0'");
    }, { what: "ChartPullSucceeded event" });
  });

  test("semver ranges pick the highest match; a newly published version is picked up through the repository's new index", async (t) => {
    const ns = await newNamespace(t);
    const { publish } = await repoFor(t, ns, [{ name: "app", version: "1.0.0" }, { name: "app", version: "1.2.0" }, { name: "app", version: "1.10.0" }, { name: "app", version: "2.0.0-rc.1" }]);
    await env.admin.create(HelmCharts, ns, helmChart(ns, "latest", { chart: "app" }));
    await env.admin.create(HelmCharts, ns, helmChart(ns, "range", { chart: "app", version: ">=1.0 <1.5" }));
    await env.admin.create(HelmCharts, ns, helmChart(ns, "tilde", { chart: "app", version: "~1.2" }));
    await env.admin.create(HelmCharts, ns, helmChart(ns, "pre", { chart: "app", version: ">=2.0.0-0" }));
    assert.equal((await waitChart(env.admin, ns, "latest", "True")).status!.artifact!.revision, "1.10.0", "default '*': latest release");
    assert.equal((await waitChart(env.admin, ns, "range", "True")).status!.artifact!.revision, "1.2.0");
    assert.equal((await waitChart(env.admin, ns, "tilde", "True")).status!.artifact!.revision, "1.2.0");
    assert.equal((await waitChart(env.admin, ns, "pre", "True")).status!.artifact!.revision, "2.0.0-rc.1");
    await publish([{ name: "app", version: "1.3.0" }]);
    await refreshRepo(ns);
    const moved = await waitChart(env.admin, ns, "range", "True", (o) => o.status?.artifact?.revision === "1.3.0");
    assert.equal(c(moved, "ArtifactOutdated"), undefined);
    assert.equal((await env.admin.get<HelmChart>(HelmCharts, ns, "latest")).status!.artifact!.revision, "1.10.0");
  });

  test("a missing version is Stalled (InvalidChartReference) with a message naming the range; the previous artifact stays", async (t) => {
    const ns = await newNamespace(t);
    const { publish } = await repoFor(t, ns, [{ name: "app", version: "1.0.0" }]);
    await env.admin.create(HelmCharts, ns, helmChart(ns, "app", { chart: "app", version: "1.0.0" }));
    const good = (await waitChart(env.admin, ns, "app", "True")).status!.artifact!;
    await env.admin.patch(HelmCharts, ns, "app", { spec: { version: ">=5.0.0 <6.0.0" } });
    const missing = await waitChart(env.admin, ns, "app", "False");
    assert.equal(c(missing, "Ready")!.reason, "InvalidChartReference");
    assert.equal(c(missing, "Ready")!.message, "invalid chart reference: failed to get chart version for remote reference: no 'app' chart with version matching '>=5.0.0 <6.0.0' found");
    assert.equal(c(missing, "FetchFailed")!.status, "True");
    assert.equal(c(missing, "Stalled")!.status, "True");
    assert.deepEqual(missing.status!.artifact, good);
    assert.equal((await fetchArtifact(good.url)).digest, good.digest);
    // Publishing the version recovers it through the repository's new index, without touching the chart.
    await publish([{ name: "app", version: "5.1.0" }]);
    await refreshRepo(ns);
    const recovered = await waitChart(env.admin, ns, "app", "True", (o) => o.status?.artifact?.revision === "5.1.0");
    assert.equal(c(recovered, "Stalled"), undefined);

    await env.admin.patch(HelmCharts, ns, "app", { spec: { chart: "nope" } });
    const noChart = await waitChart(env.admin, ns, "app", "False");
    assert.match(c(noChart, "Ready")!.message, /no chart name found/);
  });

  test("valuesFiles are merged in order into the packaged chart's values.yaml; version '<version>+<generation>'; helm reads the result", async (t) => {
    const ns = await newNamespace(t);
    await repoFor(t, ns, [
      {
        name: "web",
        version: "1.0.0",
        values: "replicaCount: 1\nimage:\n  repository: web\n  tag: v1\nlist: [a, b]\n",
        files: { "values-prod.yaml": "image:\n  tag: v2\nlist: [c]\nextra: true\n", "values-eu.yaml": "replicaCount: 3\n" },
      },
    ]);
    await env.admin.create(HelmCharts, ns, helmChart(ns, "web", { chart: "web", valuesFiles: ["values.yaml", "values-prod.yaml", "values-eu.yaml"] }));
    const o = await waitChart(env.admin, ns, "web", "True");
    const gen = o.metadata.generation!;
    const art = o.status!.artifact!;
    assert.equal(art.revision, `1.0.0+${gen}`);
    assert.equal(art.path, `helmchart/${ns}/web/web-1.0.0+${gen}.tgz`);
    assert.equal(c(o, "Ready")!.reason, "ChartPackageSucceeded");
    assert.equal(c(o, "Ready")!.message, `packaged 'web' chart with version '1.0.0+${gen}' and merged values files [values.yaml values-prod.yaml values-eu.yaml]`);
    assert.deepEqual(o.status!.observedValuesFiles, ["values.yaml", "values-prod.yaml", "values-eu.yaml"]);
    const tgz = path.join(scratch, `${ns}-web.tgz`);
    fs.writeFileSync(tgz, (await fetchArtifact(art.url)).bytes!);
    assert.deepEqual(parseYaml(execFileSync(helm, ["show", "values", tgz], { encoding: "utf8" })), { replicaCount: 3, image: { repository: "web", tag: "v2" }, list: ["c"], extra: true });
    assert.match(execFileSync(helm, ["show", "chart", tgz], { encoding: "utf8" }), new RegExp(`^version: 1\\.0\\.0\\+${gen}$`, "m"));
    assert.match(execFileSync(helm, ["template", "r1", tgz], { encoding: "utf8" }), /replicas: "3"/);

    // Without values.yaml in the list, the chart's defaults are not part of the result (Flux's rule).
    await env.admin.patch(HelmCharts, ns, "web", { spec: { valuesFiles: ["values-eu.yaml"] } });
    const only = await waitChart(env.admin, ns, "web", "True", (x) => x.status?.artifact?.revision === `1.0.0+${gen + 1}`);
    fs.writeFileSync(tgz, (await fetchArtifact(only.status!.artifact!.url)).bytes!);
    assert.deepEqual(parseYaml(execFileSync(helm, ["show", "values", tgz], { encoding: "utf8" })), { replicaCount: 3 });

    // A missing file fails the build (Stalled, ValuesFilesError) unless ignoreMissingValuesFiles.
    await env.admin.patch(HelmCharts, ns, "web", { spec: { valuesFiles: ["values.yaml", "values-missing.yaml"] } });
    const failed = await waitChart(env.admin, ns, "web", "False");
    assert.equal(c(failed, "Ready")!.reason, "ValuesFilesError");
    assert.equal(c(failed, "BuildFailed")!.status, "True");
    assert.match(c(failed, "Ready")!.message, /^values files merge error: failed to merge chart values: no values file found at path 'values-missing\.yaml'$/);
    assert.equal(failed.status!.artifact!.revision, `1.0.0+${gen + 1}`, "previous artifact kept");
    await env.admin.patch(HelmCharts, ns, "web", { spec: { ignoreMissingValuesFiles: true } });
    const ignored = await waitChart(env.admin, ns, "web", "True");
    assert.deepEqual(ignored.status!.observedValuesFiles, ["values.yaml"]);
    assert.equal(c(ignored, "BuildFailed"), undefined);
  });

  test("a chart over the size limit, wrong credentials and an unreachable repository: clear conditions, previous artifact kept", async (t) => {
    const ns = await newNamespace(t);
    const { dir, server } = await repoFor(t, ns, [{ name: "app", version: "1.0.0" }, { name: "app", version: "1.1.0" }, { name: "app", version: "1.2.0" }, { name: "big", version: "1.0.0" }], { credentials: true });
    // The published archive is replaced by 11 MiB of noise: over Flux's 10 MiB default limit.
    fs.writeFileSync(path.join(dir, "big-1.0.0.tgz"), randomBytes(11 << 20));
    await env.admin.create(HelmCharts, ns, helmChart(ns, "big", { chart: "big" }));
    const big = await waitChart(env.admin, ns, "big", "False");
    assert.equal(c(big, "Ready")!.reason, "ChartPullError");
    assert.match(c(big, "Ready")!.message, /^chart pull error: failed to download chart for remote reference: chart is over the size limit: http:\/\/127\.0\.0\.1:\d+\/big-1\.0\.0\.tgz is over the limit of 10485760 bytes \(--helm-chart-max-size\)$/);

    await env.admin.create(HelmCharts, ns, helmChart(ns, "app", { chart: "app", version: "1.0.0" }));
    const good = (await waitChart(env.admin, ns, "app", "True")).status!.artifact!;
    await env.admin.patch(Secrets, ns, "helm-auth", { stringData: { password: "not-the-password-77" } });
    await env.admin.patch(HelmCharts, ns, "app", { spec: { version: "1.1.0" } });
    const denied = await waitChart(env.admin, ns, "app", "False");
    assert.equal(c(denied, "Ready")!.reason, "ChartPullError");
    assert.match(c(denied, "Ready")!.message, /failed to download chart for remote reference: failed to fetch http:\/\/127\.0\.0\.1:\d+\/app-1\.1\.0\.tgz : 401 Unauthorized/);
    assert.deepEqual(denied.status!.artifact, good);

    await env.admin.patch(Secrets, ns, "helm-auth", { stringData: { password: creds.password } });
    await server.close();
    await env.admin.patch(HelmCharts, ns, "app", { spec: { version: "1.2.0" } });
    const gone = await waitChart(env.admin, ns, "app", "False");
    assert.match(c(gone, "Ready")!.message, /failed to fetch http:\/\/127\.0\.0\.1:\d+\/app-1\.2\.0\.tgz : .*ECONNREFUSED/);
    assert.deepEqual(gone.status!.artifact, good);
    assert.equal((await fetchArtifact(good.url)).digest, good.digest);
    const everything = JSON.stringify([denied, gone]) + JSON.stringify(env.logs);
    assert.ok(!everything.includes("not-the-password-77") && !everything.includes(creds.password));
  });

  test("credentials go to chart URLs on another host only with passCredentials", async (t) => {
    const ns = await newNamespace(t);
    // The index names charts at http://localhost:<port>/, the repository URL is http://127.0.0.1:<port>.
    const { server } = await repoFor(t, ns, [{ name: "app", version: "1.0.0" }], { credentials: true, baseUrl: (s) => s.url.replace("127.0.0.1", "localhost") });
    await env.admin.create(HelmCharts, ns, helmChart(ns, "app", { chart: "app" }));
    const denied = await waitChart(env.admin, ns, "app", "False");
    assert.match(c(denied, "Ready")!.message, /failed to fetch http:\/\/localhost:\d+\/app-1\.0\.0\.tgz : 401 Unauthorized/);
    assert.ok(server.requests.some((r) => r.path === "/app-1.0.0.tgz" && !r.withAuth), "no credentials sent to the other host");
    await env.admin.patch(HelmRepos, ns, "charts", { spec: { passCredentials: true } });
    await env.admin.patch(HelmCharts, ns, "app", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "now" } } });
    await waitChart(env.admin, ns, "app", "True");
    assert.ok(server.requests.some((r) => r.path === "/app-1.0.0.tgz" && r.withAuth && r.authorized));
  });

  test("no source, or a source without an artifact: Ready=False naming it; deleting the chart removes its artifacts", async (t) => {
    const ns = await newNamespace(t);
    await env.admin.create(HelmCharts, ns, helmChart(ns, "orphan", { chart: "app", sourceRef: { kind: "HelmRepository", name: "absent" } }));
    const orphan = await waitChart(env.admin, ns, "orphan", "False");
    assert.equal(c(orphan, "Ready")!.reason, "SourceUnavailable");
    assert.match(c(orphan, "Ready")!.message, /HelmRepository '.*\/absent' not found/);
    // The repository appearing later makes the chart reconcile.
    await repoFor(t, ns, [{ name: "app", version: "1.0.0" }]);
    await env.admin.patch(HelmCharts, ns, "orphan", { spec: { sourceRef: { kind: "HelmRepository", name: "charts" } } });
    const ok = await waitChart(env.admin, ns, "orphan", "True");
    const dir = path.join(env.storagePath, path.dirname(ok.status!.artifact!.path));
    assert.ok(fs.existsSync(dir));
    await env.admin.delete(HelmCharts, ns, "orphan");
    await waitFor(() => !fs.existsSync(dir), { what: "chart artifacts removed" });
  });
});
