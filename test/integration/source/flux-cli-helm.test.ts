// Compatibility: the real flux CLI (2.7.5) lists and reconciles Mooring's HelmRepository, HelmChart and
// OCIRepository objects (charts from the pinned helm CLI on a loopback repository, artifacts from flux push in
// Debian's docker-registry).
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { HelmChartKind, HelmRepositoryKind, OCIRepositoryKind, type HelmChart, type HelmRepository, type OCIRepository } from "../../../controllers/api";
import { toolPath } from "../../../local/tools";
import { newNamespace, waitFor } from "../../harness/cluster";
import { publishCharts, startChartRepo, type ChartRepoServer } from "../../fixtures/helmrepo/server";
import { startRegistry, type Registry } from "../../fixtures/registry/registry";
import { startSourceEnv, type SourceEnv } from "./env";

const run = promisify(execFile);

describe("flux CLI against HelmRepository, HelmChart and OCIRepository", () => {
  let env: SourceEnv;
  let flux: string;
  let scratch: string;
  let charts: ChartRepoServer;
  let registry: Registry;
  const kubeEnv = () => ({ ...process.env, KUBECONFIG: process.env.MOORING_TEST_KUBECONFIG! });

  before(async () => {
    flux = await toolPath("flux");
    env = await startSourceEnv();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-fluxcli-helm-"));
    fs.mkdirSync(path.join(scratch, "repo"));
    await publishCharts(path.join(scratch, "repo"), path.join(scratch, "src"), [{ name: "podinfo", version: "6.0.0" }]);
    charts = await startChartRepo(path.join(scratch, "repo"));
    registry = await startRegistry(path.join(scratch, "registry"));
  });
  after(async () => {
    await charts?.close();
    await registry?.close();
    await env?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  test("flux get sources helm|chart|oci and flux reconcile source helm|chart|oci", async (t) => {
    const ns = await newNamespace(t);
    await env.admin.create(HelmRepositoryKind.resource, ns, { apiVersion: HelmRepositoryKind.apiVersion, kind: "HelmRepository", metadata: { name: "charts", namespace: ns }, spec: { url: charts.url, interval: "10m" } } satisfies HelmRepository);
    await env.admin.create(HelmChartKind.resource, ns, { apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name: "podinfo", namespace: ns }, spec: { chart: "podinfo", version: "6.x", interval: "10m", sourceRef: { kind: "HelmRepository", name: "charts" } } } satisfies HelmChart);
    const pushDir = fs.mkdtempSync(path.join(scratch, "push-"));
    fs.writeFileSync(path.join(pushDir, "app.yaml"), "kind: ConfigMap\n");
    const push = () => JSON.parse(execFileSync(flux, ["push", "artifact", `oci://${registry.host}/${ns}/app:v1`, "--path", pushDir, "--source", "https://git.example.com/app", "--revision", "main@sha1:0123456789abcdef0123456789abcdef01234567", "--insecure-registry", "--output", "json"], { encoding: "utf8" })) as { digest: string };
    const first = push();
    await env.admin.create(OCIRepositoryKind.resource, ns, { apiVersion: OCIRepositoryKind.apiVersion, kind: "OCIRepository", metadata: { name: "app", namespace: ns }, spec: { url: `oci://${registry.host}/${ns}/app`, ref: { tag: "v1" }, insecure: true, interval: "10m" } } satisfies OCIRepository);

    const rowOf = async (kind: string) =>
      waitFor(async () => {
        const got = await run(flux, ["get", "sources", kind, "-n", ns], { env: kubeEnv() });
        return got.stdout.split("\n").find((l) => /\sTrue\s/.test(l));
      }, { what: `flux get sources ${kind} shows a Ready row`, timeoutMs: 60_000 });
    assert.match(await rowOf("helm"), /^charts\s+sha256:[0-9a-f]{8,}\s+False\s+True\s+stored artifact: revision 'sha256:/);
    assert.match(await rowOf("chart"), /^podinfo\s+6\.0\.0\s+False\s+True\s+pulled 'podinfo' chart with version '6\.0\.0'/);
    assert.match(await rowOf("oci"), new RegExp(`^app\\s+v1@${first.digest.slice(0, "sha256:".length + 8)}\\s+False\\s+True\\s+stored artifact for digest 'v1@sha256:[0-9a-f]{8,}'`));

    await publishCharts(path.join(scratch, "repo"), path.join(scratch, "src"), [{ name: "podinfo", version: "6.1.0" }]);
    const helm = await run(flux, ["reconcile", "source", "helm", "charts", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(helm.stdout + helm.stderr, /fetched revision sha256:/);
    const chart = await run(flux, ["reconcile", "source", "chart", "podinfo", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(chart.stdout + chart.stderr, /fetched revision 6\.1\.0/);

    const second = push();
    assert.notEqual(second.digest, first.digest);
    const oci = await run(flux, ["reconcile", "source", "oci", "app", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(oci.stdout + oci.stderr, new RegExp(`fetched revision v1@${second.digest}`));
  });
});
