// A HelmRelease's life on the real node: install of a chart with crds/, a pre-install hook Job and a test Pod
// that really run; upgrade; the real helm CLI reading (list, history, get values) and rolling back what the
// controller wrote; a failing upgrade remediated by rollback; recovery on the next values change; values that
// fail to render leave the deployed release intact; a release made by `helm install` adopted; uninstall on
// deletion.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { isNotFound, type ResourceRef } from "../../../controllers/runtime/kube";
import type { HelmRelease } from "../../../controllers/api";
import { valuesDigest } from "../../../controllers/helm/values";
import { newNamespace, testRealNode, waitFor } from "../../harness/cluster";
import { ConfigMaps, HelmReleases, Jobs, Pods, Secrets, condition, helm, packageChart, startHelmEnv, waitForRelease, type HelmEnv } from "./env";

const Widgets: ResourceRef = { kind: "Widget", group: "demo.mooring.dev", version: "v1", plural: "widgets", namespaced: true };

interface SecretList {
  items: { metadata: { name: string; labels?: Record<string, string> } }[];
}

describe("HelmRelease on the real node", { timeout: 900_000 }, () => {
  let env: HelmEnv;
  let ns: string;
  let skip: string | undefined;

  before(async () => {
    if (!(await testRealNode())) {
      skip = "the test cluster has no Ready real node";
      return;
    }
    env = await startHelmEnv();
    ns = await newNamespace("helmrel");
    const v1 = await packageChart("mooring-demo", env.chartDir);
    await env.charts.publish(env.admin, ns, "demo", v1, "0.1.0");
  });
  after(async () => {
    if (process.env.MOORING_TEST_LOGS) writeFileSync(process.env.MOORING_TEST_LOGS, env.logs.map((l) => JSON.stringify(l)).join("\n"));
    if (env) await env.stop();
  });

  const releaseSecrets = async (name: string) =>
    (await env.admin.list<SecretList["items"][number]>(Secrets, ns, { query: { labelSelector: `owner=helm,name=${name}` } })).items.map((s) => s.metadata.name).sort();

  const patchRelease = (name: string, patch: unknown) => env.admin.patch(HelmReleases, ns, name, patch);

  it("installs: CRDs from crds/, the pre-install hook Job, the objects, tests run, release stored as Helm stores it", async (t) => {
    if (skip) return t.skip(skip);
    await env.admin.create(ConfigMaps, ns, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "sizes" }, data: { size: "large" } });
    const hr: HelmRelease = {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "demo", namespace: ns },
      spec: {
        interval: "10m",
        chartRef: { kind: "HelmChart", name: "demo" },
        values: { message: "hello" },
        valuesFrom: [
          { kind: "ConfigMap", name: "sizes", valuesKey: "size", targetPath: "widget.size" },
          { kind: "Secret", name: "absent", optional: true },
        ],
        timeout: "2m",
        test: { enable: true },
        upgrade: { remediation: { retries: 0, remediateLastFailure: true } },
      },
    };
    await env.admin.create(HelmReleases, ns, hr);
    const ready = await waitForRelease(env.admin, ns, "demo", (r) => condition(r, "Ready")?.status === "True", "HelmRelease demo Ready", 240_000);
    assert.equal(condition(ready, "Released")?.reason, "InstallSucceeded");
    assert.match(condition(ready, "Released")!.message, new RegExp(`^Helm install succeeded for release ${ns}/demo\\.v1 with chart mooring-demo@0\\.1\\.0$`));
    assert.equal(condition(ready, "TestSuccess")?.status, "True");
    assert.equal(condition(ready, "Ready")?.reason, "TestSucceeded");
    const h = ready.status!.history![0]!;
    assert.deepEqual([h.name, h.namespace, h.version, h.status, h.chartName, h.chartVersion], ["demo", ns, 1, "deployed", "mooring-demo", "0.1.0"]);
    assert.equal(h.configDigest, valuesDigest({ message: "hello", widget: { size: "large" } }), "the controller's values digest is the stored release's");
    assert.equal(ready.status!.lastAttemptedReleaseAction, "install");
    assert.equal(ready.status!.lastAttemptedRevision, "0.1.0");
    assert.equal(ready.status!.storageNamespace, ns);
    assert.equal(Object.values(h.testHooks ?? {})[0]?.phase, "Succeeded");
    assert.deepEqual(await releaseSecrets("demo"), ["sh.helm.release.v1.demo.v1"]);
    const widget = await env.admin.get<{ spec: { size: string } }>(Widgets, ns, "demo-demo");
    assert.equal(widget.spec.size, "large", "the CRD from crds/ was created before the templates used it; valuesFrom targetPath applied");
    const job = await env.admin.get<{ status?: { succeeded?: number } }>(Jobs, ns, "demo-demo-pre-install");
    assert.equal(job.status?.succeeded, 1, "the pre-install hook Job ran on the node");
    const testPod = await env.admin.get<{ status?: { phase?: string } }>(Pods, ns, "demo-demo-test");
    assert.equal(testPod.status?.phase, "Succeeded", "the test Pod reached the release's Service");
    const cm = await env.admin.get<{ data: Record<string, string>; metadata: { labels?: Record<string, string> } }>(ConfigMaps, ns, "demo-demo-config");
    assert.equal(cm.data.message, "hello");
    assert.equal(cm.metadata.labels?.["helm.toolkit.fluxcd.io/name"], "demo");
  });

  it("the real helm CLI lists the release, shows its history and values", async (t) => {
    if (skip) return t.skip(skip);
    const list = JSON.parse((await helm(["list", "-n", ns, "-o", "json"])).stdout) as { name: string; status: string; chart: string; revision: string }[];
    assert.deepEqual(list.map((r) => [r.name, r.status, r.chart, r.revision]), [["demo", "deployed", "mooring-demo-0.1.0", "1"]]);
    const values = JSON.parse((await helm(["get", "values", "demo", "-n", ns, "-o", "json"])).stdout) as unknown;
    assert.deepEqual(values, { message: "hello", widget: { size: "large" } });
  });

  it("upgrades when values change, and helm history shows both revisions", async (t) => {
    if (skip) return t.skip(skip);
    await patchRelease("demo", { spec: { values: { message: "second" } } });
    const ready = await waitForRelease(env.admin, ns, "demo", (r) => condition(r, "Released")?.reason === "UpgradeSucceeded" && condition(r, "Ready")?.status === "True", "upgrade to v2");
    assert.equal(ready.status!.history![0]!.version, 2);
    assert.equal(ready.status!.lastAttemptedReleaseAction, "upgrade");
    const cm = await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "demo-demo-config");
    assert.equal(cm.data.message, "second");
    const history = JSON.parse((await helm(["history", "demo", "-n", ns, "-o", "json"])).stdout) as { revision: number; status: string }[];
    assert.deepEqual(history.map((r) => [r.revision, r.status]), [[1, "superseded"], [2, "deployed"]]);
  });

  it("values that fail to render: the message names the template and line, the deployed release stays", async (t) => {
    if (skip) return t.skip(skip);
    await patchRelease("demo", { spec: { values: { message: "second", broken: true } } });
    const failed = await waitForRelease(env.admin, ns, "demo", (r) => condition(r, "Ready")?.status === "False", "render failure");
    const msg = condition(failed, "Ready")!.message;
    assert.match(msg, /mooring-demo\/templates\/broken\.yaml:7/, msg);
    assert.match(msg, /broken: set brokenValue too/);
    assert.equal(condition(failed, "Released")?.reason, "UpgradeFailed");
    assert.deepEqual(await releaseSecrets("demo"), ["sh.helm.release.v1.demo.v1", "sh.helm.release.v1.demo.v2"], "no release record for a chart that does not render");
    const status = JSON.parse((await helm(["status", "demo", "-n", ns, "-o", "json"])).stdout) as { version: number; info: { status: string } };
    assert.deepEqual([status.version, status.info.status], [2, "deployed"]);
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "demo-demo-config")).data.message, "second");
  });

  it("a failing upgrade is remediated by rollback; the next values change recovers", async (t) => {
    if (skip) return t.skip(skip);
    await patchRelease("demo", { spec: { values: { message: "never-ready", failReadiness: true, broken: null }, upgrade: { timeout: "15s", remediation: { retries: 0, remediateLastFailure: true } } } });
    const stalled = await waitForRelease(env.admin, ns, "demo", (r) => condition(r, "Remediated")?.status === "True" && condition(r, "Stalled")?.status === "True", "failed upgrade remediated", 180_000);
    assert.equal(condition(stalled, "Remediated")?.reason, "RollbackSucceeded");
    assert.match(condition(stalled, "Remediated")!.message, new RegExp(`rollback to previous release ${ns}/demo\\.v2 with chart mooring-demo@0\\.1\\.0 succeeded`));
    assert.equal(condition(stalled, "Ready")?.status, "False");
    assert.equal(stalled.status!.upgradeFailures, 1);
    const history = JSON.parse((await helm(["history", "demo", "-n", ns, "-o", "json"])).stdout) as { revision: number; status: string; description: string }[];
    assert.deepEqual(history.slice(-2).map((r) => [r.revision, r.status]), [[3, "failed"], [4, "deployed"]]);
    assert.match(history.at(-1)!.description, /Rollback to 2/);
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "demo-demo-config")).data.message, "second", "v2's objects are back");
    // A fix of the values starts a fresh series of attempts without suspend/resume or a reset annotation.
    await patchRelease("demo", { spec: { values: { message: "fixed", failReadiness: null } } });
    const fixed = await waitForRelease(env.admin, ns, "demo", (r) => condition(r, "Ready")?.status === "True", "recovered after the values change", 180_000);
    assert.equal(fixed.status!.history![0]!.version, 5);
    assert.equal(fixed.status!.upgradeFailures, 0);
    assert.equal(condition(fixed, "Stalled"), undefined);
  });

  it("helm rollback by hand is reverted to the declared state at the next reconcile", async (t) => {
    if (skip) return t.skip(skip);
    await helm(["rollback", "demo", "2", "-n", ns, "--wait"]);
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "demo-demo-config")).data.message, "second");
    await env.admin.patch(HelmReleases, ns, "demo", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": new Date().toISOString() } } });
    await waitFor(async () => (await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "demo-demo-config")).data.message === "fixed", { what: "declared values restored", timeoutMs: 120_000 });
    const hr = await waitForRelease(env.admin, ns, "demo", (r) => condition(r, "Ready")?.status === "True" && r.status!.history![0]!.version === 7, "v7 deployed");
    assert.equal(hr.status!.history![0]!.status, "deployed");
  });

  it("adopts a release `helm install` made, and uninstalls on deletion", async (t) => {
    if (skip) return t.skip(skip);
    const chart = await packageChart("mooring-demo", env.chartDir);
    await helm(["install", "byhand", chart, "-n", ns, "--set", "message=from-cli", "--wait", "--timeout", "2m"]);
    await env.admin.create(HelmReleases, ns, {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name: "adopter", namespace: ns },
      spec: { interval: "10m", releaseName: "byhand", chartRef: { kind: "HelmChart", name: "demo" }, values: { message: "from-mooring" } },
    });
    const ready = await waitForRelease(env.admin, ns, "adopter", (r) => condition(r, "Ready")?.status === "True", "adopted release Ready", 180_000);
    assert.equal(condition(ready, "Released")?.reason, "UpgradeSucceeded", "an existing release is upgraded, not installed again");
    assert.equal(ready.status!.history![0]!.version, 2);
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "byhand-demo-config")).data.message, "from-mooring");
    await env.admin.delete(HelmReleases, ns, "adopter");
    await waitFor(async () => (await releaseSecrets("byhand")).length === 0, { what: "release storage removed on uninstall", timeoutMs: 120_000 });
    await waitFor(async () => {
      try {
        await env.admin.get(ConfigMaps, ns, "byhand-demo-config");
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    }, { what: "release objects deleted", timeoutMs: 60_000 });
    const list = JSON.parse((await helm(["list", "-n", ns, "-o", "json"])).stdout) as { name: string }[];
    assert.deepEqual(list.map((r) => r.name), ["demo"]);
  });
});
