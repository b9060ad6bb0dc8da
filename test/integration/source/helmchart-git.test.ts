// HelmChart from a GitRepository on the real control plane: the chart directory in the GitRepository's
// artifact packaged (version from Chart.yaml, .helmignore applied, values files from the source merged),
// with reconcileStrategy ChartVersion and Revision; the results read back by the pinned helm CLI.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { HelmChartKind, HelmRepositoryKind, type HelmChart, type HelmRepository } from "../../../controllers/api";
import type { KubeClient } from "../../../controllers/runtime/kube";
import { toolPath } from "../../../local/tools";
import { newNamespace, waitFor } from "../../harness/cluster";
import { GitRepos, cond, createSecret, fetchArtifact, gitCredentials, gitRepository, startSourceEnv, waitReady, type SourceEnv } from "./env";
import { publishCharts, startChartRepo } from "../../fixtures/helmrepo/server";

const HelmCharts = HelmChartKind.resource;

async function waitChart(admin: KubeClient, ns: string, name: string, status: "True" | "False", extra: (o: HelmChart) => boolean = () => true): Promise<HelmChart> {
  return waitFor(async () => {
    const o = await admin.get<HelmChart>(HelmCharts, ns, name);
    const ready = cond(o as never, "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
  }, { what: `HelmChart ${ns}/${name} Ready=${status}`, timeoutMs: 60_000, intervalMs: 200 });
}

const c = (o: HelmChart, type: string) => cond(o as never, type);
const chartFiles = (version: string, replicas: string) => ({
  "charts/web/Chart.yaml": `apiVersion: v2\nname: web\nversion: ${version}\n`,
  "charts/web/values.yaml": `replicaCount: ${replicas}\ntag: a\n`,
  "charts/web/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicaCount | quote }}\n  tag: {{ .Values.tag | quote }}\n",
  "charts/web/.helmignore": "*.md\n",
  "charts/web/NOTES.md": "not packaged\n",
  "env/prod-values.yaml": "tag: prod\n",
});

describe("HelmChart from a GitRepository", () => {
  let env: SourceEnv;
  let helm: string;
  let scratch: string;

  before(async () => {
    env = await startSourceEnv();
    helm = await toolPath("helm");
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-gitchart-"));
  });
  after(async () => {
    await env?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  const helmShow = async (url: string, what: "chart" | "values", name: string) => {
    const file = path.join(scratch, `${name}.tgz`);
    fs.writeFileSync(file, (await fetchArtifact(url)).bytes!);
    return execFileSync(helm, ["show", what, file], { encoding: "utf8" });
  };

  test("ChartVersion and Revision strategies, .helmignore, values files from the source, a missing path", async (t) => {
    const ns = await newNamespace(t);
    const branch = `charts-${ns}`.slice(0, 60);
    const sha1 = env.repo.commit(chartFiles("0.1.0", "1"), "chart 0.1.0", branch);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.httpUrl, interval: "10m", ref: { branch }, secretRef: { name: "git-auth" } }));
    await waitReady(env.admin, ns, "fleet", "True");
    const mk = (name: string, spec: Partial<HelmChart["spec"]>) =>
      env.admin.create(HelmCharts, ns, { apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name, namespace: ns }, spec: { chart: "./charts/web", interval: "10m", sourceRef: { kind: "GitRepository", name: "fleet" }, ...spec } } satisfies HelmChart);
    await mk("by-version", {});
    await mk("by-revision", { reconcileStrategy: "Revision", valuesFiles: ["charts/web/values.yaml", "env/prod-values.yaml"] });
    await mk("missing", { chart: "charts/nope" });

    const byVersion = await waitChart(env.admin, ns, "by-version", "True");
    assert.equal(byVersion.status!.artifact!.revision, "0.1.0");
    assert.equal(c(byVersion, "Ready")!.reason, "ChartPackageSucceeded");
    assert.equal(c(byVersion, "Ready")!.message, "packaged 'web' chart with version '0.1.0'");
    assert.equal(byVersion.status!.observedSourceArtifactRevision, `${branch}@sha1:${sha1}`);
    assert.match(await helmShow(byVersion.status!.artifact!.url, "chart", "v1"), /^name: web$/m);
    const listing = execFileSync("tar", ["-tzf", path.join(scratch, "v1.tgz")], { encoding: "utf8" }).trim().split("\n").sort();
    assert.deepEqual(listing, ["web/Chart.yaml", "web/templates/cm.yaml", "web/values.yaml"], ".helmignore'd files and the .helmignore itself stay out");

    const gen = (await env.admin.get<HelmChart>(HelmCharts, ns, "by-revision")).metadata.generation!;
    const byRevision = await waitChart(env.admin, ns, "by-revision", "True");
    assert.equal(byRevision.status!.artifact!.revision, `0.1.0+${sha1.slice(0, 12)}.${gen}`);
    assert.equal(c(byRevision, "Ready")!.message, `packaged 'web' chart with version '0.1.0+${sha1.slice(0, 12)}.${gen}' and merged values files [charts/web/values.yaml env/prod-values.yaml]`);
    assert.deepEqual(parseYaml(await helmShow(byRevision.status!.artifact!.url, "values", "r1")), { replicaCount: 1, tag: "prod" });
    assert.match(execFileSync(helm, ["template", "x", path.join(scratch, "r1.tgz")], { encoding: "utf8" }), /tag: "prod"/);

    const missing = await waitChart(env.admin, ns, "missing", "False");
    assert.equal(c(missing, "Ready")!.reason, "InvalidChartReference");
    assert.match(c(missing, "Ready")!.message, /no chart found at path 'charts\/nope'/);

    // A new commit without a version bump: ChartVersion keeps its artifact, Revision makes a new one.
    const sha2 = env.repo.commit({ "charts/web/values.yaml": "replicaCount: 2\ntag: a\n" }, "values only", branch);
    await env.admin.patch(GitRepos, ns, "fleet", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "c2" } } });
    const rev2 = await waitChart(env.admin, ns, "by-revision", "True", (o) => o.status?.artifact?.revision === `0.1.0+${sha2.slice(0, 12)}.${gen}`);
    assert.equal(rev2.status!.observedSourceArtifactRevision, `${branch}@sha1:${sha2}`);
    const kept = await waitChart(env.admin, ns, "by-version", "True", (o) => o.status?.observedSourceArtifactRevision === `${branch}@sha1:${sha2}`);
    assert.deepEqual(kept.status!.artifact, byVersion.status!.artifact, "same chart version: the stored chart stands");

    // A version bump is a new artifact for ChartVersion too.
    env.repo.commit({ "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.2.0\n" }, "chart 0.2.0", branch);
    await env.admin.patch(GitRepos, ns, "fleet", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "c3" } } });
    const bumped = await waitChart(env.admin, ns, "by-version", "True", (o) => o.status?.artifact?.revision === "0.2.0");
    assert.deepEqual(parseYaml(await helmShow(bumped.status!.artifact!.url, "values", "v2")), { replicaCount: 2, tag: "a" });
  });

  test("dependencies: file:// from the same source, a HelmRepository by URL (its credentials) and by @alias; a missing one named", async (t) => {
    const ns = await newNamespace(t);
    const dir = path.join(scratch, ns);
    fs.mkdirSync(dir, { recursive: true });
    const creds = { username: "dep-reader", password: "dep-pass-8812" };
    const server = await startChartRepo(dir, { credentials: creds });
    t.after(() => server.close());
    const cm = (what: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-${what}\ndata:\n  chart: {{ .Chart.Name }}\n`;
    await publishCharts(dir, path.join(scratch, `${ns}-src`), [
      { name: "cache", version: "1.0.0", files: { "templates/configmap.yaml": cm("cache-1.0.0") } },
      { name: "cache", version: "1.4.0", files: { "templates/configmap.yaml": cm("cache-1.4.0") } },
      { name: "queue", version: "2.0.0", files: { "templates/configmap.yaml": cm("queue") } },
    ]);
    // A second repository that no HelmRepository names: read directly, without credentials, as Flux does.
    const openDir = path.join(scratch, `${ns}-open`);
    fs.mkdirSync(openDir, { recursive: true });
    const open = await startChartRepo(openDir);
    t.after(() => open.close());
    await publishCharts(openDir, path.join(scratch, `${ns}-open-src`), [{ name: "metrics", version: "3.1.0", files: { "templates/configmap.yaml": cm("metrics") } }]);
    await createSecret(env.admin, ns, "repo-auth", creds);
    await env.admin.create(HelmRepositoryKind.resource, ns, { apiVersion: HelmRepositoryKind.apiVersion, kind: "HelmRepository", metadata: { name: "deps", namespace: ns }, spec: { url: `${server.url}/`, interval: "10m", secretRef: { name: "repo-auth" } } } satisfies HelmRepository);
    await waitFor(async () => (await env.admin.get<HelmRepository>(HelmRepositoryKind.resource, ns, "deps")).status?.artifact, { what: "HelmRepository artifact" });

    const branch = `deps-${ns}`.slice(0, 60);
    env.repo.commit({
      "charts/app/Chart.yaml": `apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: common\n    version: ">=0.1.0"\n    repository: file://../common\n  - name: cache\n    version: 1.x\n    repository: ${server.url}\n  - name: queue\n    version: 2.0.0\n    repository: "@deps"\n    alias: jobs\n  - name: metrics\n    version: ~3.1\n    repository: ${open.url}/\n`,
      "charts/app/templates/cm.yaml": cm("app"),
      "charts/common/Chart.yaml": "apiVersion: v2\nname: common\nversion: 0.1.0\n",
      "charts/common/templates/cm.yaml": cm("common"),
      "charts/broken/Chart.yaml": `apiVersion: v2\nname: broken\nversion: 1.0.0\ndependencies:\n  - name: nothere\n    version: 1.x\n    repository: ${server.url}\n`,
    }, "charts with dependencies", branch);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.httpUrl, interval: "10m", ref: { branch }, secretRef: { name: "git-auth" } }));
    await waitReady(env.admin, ns, "fleet", "True");
    const mk = (name: string, chart: string) =>
      env.admin.create(HelmCharts, ns, { apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name, namespace: ns }, spec: { chart, interval: "10m", sourceRef: { kind: "GitRepository", name: "fleet" } } } satisfies HelmChart);
    await mk("app", "charts/app");
    await mk("broken", "charts/broken");

    const app = await waitChart(env.admin, ns, "app", "True");
    assert.equal(app.status!.artifact!.revision, "1.0.0");
    const file = path.join(scratch, `${ns}-app.tgz`);
    fs.writeFileSync(file, (await fetchArtifact(app.status!.artifact!.url)).bytes!);
    const listing = execFileSync("tar", ["-tzf", file], { encoding: "utf8" }).trim().split("\n").sort();
    for (const want of ["app/charts/common-0.1.0.tgz", "app/charts/cache-1.4.0.tgz", "app/charts/queue-2.0.0.tgz", "app/charts/metrics-3.1.0.tgz"]) assert.ok(listing.includes(want), `${want} in ${listing.join(", ")}`);
    const rendered = execFileSync(helm, ["template", "rel", file], { encoding: "utf8" });
    for (const name of ["rel-app", "rel-common", "rel-cache-1.4.0", "rel-queue", "rel-metrics"]) assert.match(rendered, new RegExp(`name: ${name}\\n`), `${name} rendered`);
    assert.match(rendered, /chart: jobs/, "the aliased dependency renders under its alias");
    assert.ok(server.requests.some((r) => r.path === "/cache-1.4.0.tgz" && r.withAuth && r.authorized), "the dependency was downloaded with the HelmRepository's credentials");
    assert.deepEqual(open.requests.map((r) => [r.path, r.withAuth]), [["/index.yaml", false], ["/metrics-3.1.0.tgz", false]], "the repository without a HelmRepository: its index and chart, no credentials");

    const broken = await waitChart(env.admin, ns, "broken", "False");
    assert.equal(c(broken, "Ready")!.reason, "DependencyBuildError");
    assert.match(c(broken, "Ready")!.message, /^dependency build error: failed to add remote dependency 'nothere': failed to get chart 'nothere' version '1\.x' from 'http:\/\/127\.0\.0\.1:\d+\/?': no chart name found$/);
  });
});
