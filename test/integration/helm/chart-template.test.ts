// spec.chart with the real source-controller: the helm-controller keeps the HelmChart <namespace>-<name> in the
// HelmRepository's namespace, the source-controller builds it from a chart repository on loopback, the release
// follows a version range change, and the HelmChart goes with the HelmRelease.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HelmRepositoryKind, type HelmRelease } from "../../../controllers/api";
import { isNotFound } from "../../../controllers/runtime/kube";
import { newNamespace, waitFor } from "../../harness/cluster";
import { publishCharts, startChartRepo, type ChartRepoServer } from "../../fixtures/helmrepo/server";
import { startSourceEnv, type SourceEnv } from "../source/env";
import { ConfigMaps, HelmCharts, HelmReleases, condition, startHelmEnv, waitForRelease, type HelmEnv } from "./env";

describe("HelmRelease from a chart template", { timeout: 300_000 }, () => {
  let source: SourceEnv;
  let env: HelmEnv;
  let repo: ChartRepoServer;
  let scratch: string;

  before(async () => {
    source = await startSourceEnv();
    env = await startHelmEnv();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-hr-tpl-"));
    const repoDir = path.join(scratch, "repo");
    fs.mkdirSync(repoDir);
    await publishCharts(repoDir, path.join(scratch, "src"), [
      { name: "tpl", version: "1.0.0", values: "replicaCount: 1\n" },
      { name: "tpl", version: "1.1.0", values: "replicaCount: 2\n" },
    ]);
    repo = await startChartRepo(repoDir);
  });
  after(async () => {
    await repo?.close();
    await env?.stop();
    await source?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("creates the HelmChart, installs the chart version in range, upgrades on a range change, deletes the HelmChart with the release", async () => {
    const ns = await newNamespace("hr-template");
    await env.admin.create(HelmRepositoryKind.resource, ns, { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "HelmRepository", metadata: { name: "charts", namespace: ns }, spec: { url: repo.url, interval: "10m" } });
    const hr: HelmRelease = {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "web", namespace: ns },
      spec: { interval: "10m", chart: { spec: { chart: "tpl", version: "1.0.x", sourceRef: { kind: "HelmRepository", name: "charts" } } } },
    };
    await env.admin.create(HelmReleases, ns, hr);
    const ready = await waitForRelease(env.admin, ns, "web", (r) => condition(r, "Ready")?.status === "True", "HelmRelease from the template Ready");
    assert.equal(ready.status!.helmChart, `${ns}/${ns}-web`);
    assert.deepEqual([ready.status!.history![0]!.chartName, ready.status!.history![0]!.chartVersion], ["tpl", "1.0.0"]);
    const chart = await env.admin.get<{ spec: { chart: string; version: string }; metadata: { labels?: Record<string, string> } }>(HelmCharts, ns, `${ns}-web`);
    assert.deepEqual([chart.spec.chart, chart.spec.version], ["tpl", "1.0.x"]);
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "web")).data.replicas, "1");
    await env.admin.patch(HelmReleases, ns, "web", { spec: { chart: { spec: { version: "1.x" } } } });
    const upgraded = await waitForRelease(env.admin, ns, "web", (r) => r.status?.history?.[0]?.chartVersion === "1.1.0" && condition(r, "Ready")?.status === "True", "upgrade to chart 1.1.0");
    assert.equal(condition(upgraded, "Released")?.reason, "UpgradeSucceeded");
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "web")).data.replicas, "2");
    await env.admin.delete(HelmReleases, ns, "web");
    await waitFor(async () => {
      try {
        await env.admin.get(HelmCharts, ns, `${ns}-web`);
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    }, { what: "templated HelmChart deleted", timeoutMs: 60_000 });
  });
});
