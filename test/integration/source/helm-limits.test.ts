// The source-controller's Helm size flags on the real control plane: the controller runs with options parsed
// from --helm-index-max-size, --helm-chart-max-size and --helm-chart-file-max-size set small, against a chart
// repository on loopback (charts packaged by the pinned helm CLI); each limit gives a condition naming it.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HelmChartKind, HelmRepositoryKind, type HelmChart, type HelmRepository } from "../../../controllers/api";
import { parseControllersArgs } from "../../../controllers/flags";
import type { KubeClient } from "../../../controllers/runtime/kube";
import { newNamespace, waitFor } from "../../harness/cluster";
import { publishCharts, startChartRepo } from "../../fixtures/helmrepo/server";
import { cond, createSecret, gitCredentials, gitRepository, startSourceEnv, waitReady, GitRepos, type SourceEnv } from "./env";

const HelmRepos = HelmRepositoryKind.resource;
const HelmCharts = HelmChartKind.resource;

const limits = { index: 3000, chart: 3000, file: 2000 };

async function waitObj<T extends { metadata: { generation?: number }; status?: { conditions?: { type: string; status: string; observedGeneration?: number }[] } }>(
  admin: KubeClient,
  ref: typeof HelmCharts,
  ns: string,
  name: string,
  status: "True" | "False",
): Promise<T> {
  return waitFor(async () => {
    const o = await admin.get<T>(ref, ns, name);
    const ready = o.status?.conditions?.find((c) => c.type === "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation ? o : undefined;
  }, { what: `${ref.kind} ${ns}/${name} Ready=${status}`, timeoutMs: 60_000, intervalMs: 200 });
}

const ready = (o: HelmChart | HelmRepository) => cond(o as never, "Ready")!;

describe("Helm size limits (--helm-index-max-size, --helm-chart-max-size, --helm-chart-file-max-size)", () => {
  let env: SourceEnv;
  let scratch: string;

  before(async () => {
    const cli = parseControllersArgs([`--helm-index-max-size=${limits.index}`, `--helm-chart-max-size=${limits.chart}`, `--helm-chart-file-max-size=${limits.file}`], {});
    assert.ok(!cli.help);
    const { helmIndexMaxSize, helmChartMaxSize, helmChartFileMaxSize } = cli.options;
    env = await startSourceEnv({ helmIndexMaxSize, helmChartMaxSize, helmChartFileMaxSize });
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-helm-limits-"));
  });
  after(async () => {
    await env?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  async function repository(t: { after: (fn: () => Promise<void>) => void }, ns: string, name: string, charts: Parameters<typeof publishCharts>[2]): Promise<number> {
    const dir = path.join(scratch, `${ns}-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    const server = await startChartRepo(dir);
    t.after(() => server.close());
    await publishCharts(dir, path.join(scratch, `${ns}-${name}-src`), charts);
    await env.admin.create(HelmRepos, ns, { apiVersion: HelmRepositoryKind.apiVersion, kind: "HelmRepository", metadata: { name, namespace: ns }, spec: { url: server.url, interval: "10m" } } satisfies HelmRepository);
    return fs.statSync(path.join(dir, "index.yaml")).size;
  }

  test("an index over --helm-index-max-size fails the HelmRepository; one under it is stored", async (t) => {
    const ns = await newNamespace(t);
    const smallIndex = await repository(t, ns, "small", [{ name: "app", version: "1.0.0" }]);
    const largeIndex = await repository(t, ns, "large", Array.from({ length: 25 }, (_, i) => ({ name: "app", version: `1.${i}.0` })));
    assert.ok(smallIndex < limits.index && largeIndex > limits.index, `fixture sizes ${smallIndex} and ${largeIndex} around the limit ${limits.index}`);
    await waitObj<HelmRepository>(env.admin, HelmRepos, ns, "small", "True");
    const large = await waitObj<HelmRepository>(env.admin, HelmRepos, ns, "large", "False");
    assert.match(ready(large).message, new RegExp(`^failed to fetch Helm repository index: http://127\\.0\\.0\\.1:\\d+/index\\.yaml is (${largeIndex} bytes, )?over the limit of ${limits.index} bytes \\(--helm-index-max-size\\)$`));
    assert.equal(large.status?.artifact, undefined);
  });

  test("a chart archive over --helm-chart-max-size and a chart file over --helm-chart-file-max-size: ChartPullError naming the limit", async (t) => {
    const ns = await newNamespace(t);
    await repository(t, ns, "charts", [
      { name: "fits", version: "1.0.0" },
      // Noise does not compress: the archive is over the chart limit.
      { name: "heavy", version: "1.0.0", files: { "files/noise.txt": randomBytes(4000).toString("base64") } },
      // Compresses to almost nothing, but one file is over the file limit once loaded.
      { name: "wide", version: "1.0.0", files: { "files/data.txt": "a".repeat(limits.file + 1) } },
    ]);
    await waitObj<HelmRepository>(env.admin, HelmRepos, ns, "charts", "True");
    const chart = (name: string): HelmChart => ({ apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name, namespace: ns }, spec: { chart: name, interval: "10m", sourceRef: { kind: "HelmRepository", name: "charts" } } });
    for (const name of ["fits", "heavy", "wide"]) await env.admin.create(HelmCharts, ns, chart(name));
    assert.equal((await waitObj<HelmChart>(env.admin, HelmCharts, ns, "fits", "True")).status!.artifact!.revision, "1.0.0");
    const heavy = await waitObj<HelmChart>(env.admin, HelmCharts, ns, "heavy", "False");
    assert.equal(ready(heavy).reason, "ChartPullError");
    assert.match(ready(heavy).message, new RegExp(`^chart pull error: failed to download chart for remote reference: chart is over the size limit: http://127\\.0\\.0\\.1:\\d+/heavy-1\\.0\\.0\\.tgz is (\\d+ bytes, )?over the limit of ${limits.chart} bytes \\(--helm-chart-max-size\\)$`));
    const wide = await waitObj<HelmChart>(env.admin, HelmCharts, ns, "wide", "False");
    assert.equal(ready(wide).reason, "ChartPullError");
    assert.equal(ready(wide).message, `chart pull error: failed to load downloaded chart: chart file 'files/data.txt' is ${limits.file + 1} bytes, over the limit of ${limits.file} bytes (--helm-chart-file-max-size)`);
  });

  test("a chart directory from a GitRepository with a file over --helm-chart-file-max-size: ChartPackageError naming the limit", async (t) => {
    const ns = await newNamespace(t);
    const branch = `limits-${ns}`.slice(0, 60);
    env.repo.commit({ "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n", "charts/web/files/big.txt": "b".repeat(limits.file + 10) }, "big file", branch);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.httpUrl, interval: "10m", ref: { branch }, secretRef: { name: "git-auth" } }));
    await waitReady(env.admin, ns, "fleet", "True");
    await env.admin.create(HelmCharts, ns, { apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name: "web", namespace: ns }, spec: { chart: "charts/web", interval: "10m", sourceRef: { kind: "GitRepository", name: "fleet" } } } satisfies HelmChart);
    const web = await waitObj<HelmChart>(env.admin, HelmCharts, ns, "web", "False");
    assert.equal(ready(web).reason, "ChartPackageError");
    assert.equal(ready(web).message, `chart package error: file 'charts/web/files/big.txt' is ${limits.file + 10} bytes, over the limit of ${limits.file} bytes (--helm-chart-file-max-size)`);
  });
});
