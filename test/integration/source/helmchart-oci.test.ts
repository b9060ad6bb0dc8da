// HelmChart from a HelmRepository of type oci on the real control plane: charts pushed with the pinned
// `helm push` into Debian's docker-registry (open, and with htpasswd auth); the stored charts read back by helm.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { HelmChartKind, HelmRepositoryKind, type HelmChart, type HelmRepository } from "../../../controllers/api";
import type { KubeClient } from "../../../controllers/runtime/kube";
import { toolPath } from "../../../local/tools";
import { newNamespace, waitFor } from "../../harness/cluster";
import { writeChart, type ChartFiles } from "../../fixtures/helmrepo/server";
import { startRegistry, type Registry } from "../../fixtures/registry/registry";
import { cond, fetchArtifact, Secrets, startSourceEnv, type SourceEnv } from "./env";

const HelmRepos = HelmRepositoryKind.resource;
const HelmCharts = HelmChartKind.resource;
const creds = { username: "chart-pusher", password: "oci-chart-pass-31" };

async function waitChart(admin: KubeClient, ns: string, name: string, status: "True" | "False", extra: (o: HelmChart) => boolean = () => true): Promise<HelmChart> {
  return waitFor(async () => {
    const o = await admin.get<HelmChart>(HelmCharts, ns, name);
    const ready = cond(o as never, "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
  }, { what: `HelmChart ${ns}/${name} Ready=${status}`, timeoutMs: 60_000, intervalMs: 200 });
}

const c = (o: HelmChart, type: string) => cond(o as never, type);

describe("HelmChart from an OCI HelmRepository (charts pushed with helm push)", () => {
  let env: SourceEnv;
  let scratch: string;
  let helm: string;
  let open: Registry;
  let locked: Registry;

  function helmPush(registry: Registry, ns: string, chart: ChartFiles, withCreds = false): Buffer {
    const src = path.join(scratch, `${ns}-src`);
    const out = path.join(scratch, `${ns}-pkg`);
    fs.mkdirSync(out, { recursive: true });
    execFileSync(helm, ["package", writeChart(src, chart), "--destination", out], { stdio: "pipe" });
    const tgz = path.join(out, `${chart.name}-${chart.version}.tgz`);
    execFileSync(helm, ["push", tgz, `oci://${registry.host}/${ns}/charts`, "--plain-http", "--registry-config", path.join(scratch, "registry.json"), ...(withCreds ? ["--username", creds.username, "--password", creds.password] : [])], { stdio: "pipe" });
    return fs.readFileSync(tgz);
  }

  async function ociRepo(ns: string, registry: Registry, secret?: string): Promise<void> {
    const spec: HelmRepository["spec"] = { type: "oci", url: `oci://${registry.host}/${ns}/charts`, insecure: true };
    if (secret) spec.secretRef = { name: secret };
    await env.admin.create(HelmRepos, ns, { apiVersion: HelmRepositoryKind.apiVersion, kind: "HelmRepository", metadata: { name: "charts", namespace: ns }, spec });
  }

  const chart = (ns: string, name: string, spec: Partial<HelmChart["spec"]> & { chart: string }): HelmChart => ({ apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name, namespace: ns }, spec: { interval: "10m", sourceRef: { kind: "HelmRepository", name: "charts" }, ...spec } });

  before(async () => {
    env = await startSourceEnv();
    helm = await toolPath("helm");
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-helmoci-"));
    open = await startRegistry(path.join(scratch, "open"));
    locked = await startRegistry(path.join(scratch, "locked"), { credentials: creds });
  });
  after(async () => {
    await open?.close();
    await locked?.close();
    await env?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  test("exact versions and ranges over the registry's tags; the artifact is the chart layer as pushed", async (t) => {
    const ns = await newNamespace(t);
    helmPush(open, ns, { name: "podinfo", version: "6.0.0" });
    const v610 = helmPush(open, ns, { name: "podinfo", version: "6.1.0" });
    helmPush(open, ns, { name: "podinfo", version: "7.0.0-rc.1" });
    await ociRepo(ns, open);
    await env.admin.create(HelmCharts, ns, chart(ns, "exact", { chart: "podinfo", version: "6.0.0" }));
    await env.admin.create(HelmCharts, ns, chart(ns, "range", { chart: "podinfo", version: "6.x" }));
    await env.admin.create(HelmCharts, ns, chart(ns, "latest", { chart: "podinfo" }));
    await env.admin.create(HelmCharts, ns, chart(ns, "missing", { chart: "podinfo", version: ">=8.0.0" }));
    assert.equal((await waitChart(env.admin, ns, "exact", "True")).status!.artifact!.revision, "6.0.0");
    const range = await waitChart(env.admin, ns, "range", "True");
    assert.equal(range.status!.artifact!.revision, "6.1.0");
    assert.equal(c(range, "Ready")!.message, "pulled 'podinfo' chart with version '6.1.0'");
    assert.equal(range.status!.artifact!.digest, `sha256:${createHash("sha256").update(v610).digest("hex")}`, "the chart as helm packaged it");
    assert.equal((await waitChart(env.admin, ns, "latest", "True")).status!.artifact!.revision, "6.1.0", "the latest release, not the rc");
    const missing = await waitChart(env.admin, ns, "missing", "False");
    assert.equal(c(missing, "Ready")!.reason, "InvalidChartReference");
    assert.match(c(missing, "Ready")!.message, /could not get a chart version matching '>=8\.0\.0'/);
    const repo = await env.admin.get<HelmRepository>(HelmRepos, ns, "charts");
    assert.equal(repo.status?.conditions, undefined, "an OCI HelmRepository stays a static object");
  });

  test("valuesFiles from an OCI chart, read back by helm", async (t) => {
    const ns = await newNamespace(t);
    helmPush(open, ns, { name: "web", version: "1.0.0", values: "replicaCount: 1\ntag: a\n", files: { "values-prod.yaml": "tag: b\n" } });
    await ociRepo(ns, open);
    await env.admin.create(HelmCharts, ns, chart(ns, "web", { chart: "web", version: "1.0.0", valuesFiles: ["values.yaml", "values-prod.yaml"] }));
    const o = await waitChart(env.admin, ns, "web", "True");
    assert.equal(o.status!.artifact!.revision, `1.0.0+${o.metadata.generation}`);
    const tgz = path.join(scratch, `${ns}.tgz`);
    fs.writeFileSync(tgz, (await fetchArtifact(o.status!.artifact!.url)).bytes!);
    assert.deepEqual(parseYaml(execFileSync(helm, ["show", "values", tgz], { encoding: "utf8" })), { replicaCount: 1, tag: "b" });
  });

  test("registry credentials from the HelmRepository's secret; wrong ones are a clear failure and the previous artifact stays", async (t) => {
    const ns = await newNamespace(t);
    helmPush(locked, ns, { name: "app", version: "1.0.0" }, true);
    helmPush(locked, ns, { name: "app", version: "1.1.0" }, true);
    const dockerconfig = (password: string) => JSON.stringify({ auths: { [locked.host]: { username: creds.username, password } } });
    await env.admin.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", metadata: { name: "regcred", namespace: ns }, type: "kubernetes.io/dockerconfigjson", stringData: { ".dockerconfigjson": dockerconfig(creds.password) } });
    await ociRepo(ns, locked, "regcred");
    await env.admin.create(HelmCharts, ns, chart(ns, "app", { chart: "app", version: "1.0.0" }));
    const good = (await waitChart(env.admin, ns, "app", "True")).status!.artifact!;
    await env.admin.patch(Secrets, ns, "regcred", { stringData: { ".dockerconfigjson": dockerconfig("wrong-oci-pass") } });
    await env.admin.patch(HelmCharts, ns, "app", { spec: { version: "1.1.0" } });
    const denied = await waitChart(env.admin, ns, "app", "False");
    assert.equal(c(denied, "Ready")!.reason, "ChartPullError");
    assert.match(c(denied, "Ready")!.message, /401 Unauthorized \(the registry refused the credentials\)/);
    assert.deepEqual(denied.status!.artifact, good);
    assert.ok(!(JSON.stringify(denied) + JSON.stringify(env.logs)).includes("wrong-oci-pass"));
  });
});
