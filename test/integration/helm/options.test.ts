// HelmRelease options on a real apiserver, with the bench-app chart (Deployment with 0 replicas,
// ServiceAccount, Service, Ingress; replicaCount -1 makes the apiserver refuse the Deployment, a failing
// install or upgrade): postRenderers (kustomize patches and images) and commonMetadata; a release stuck in
// pending-upgrade unlocked; upgrade.strategy RetryOnFailure with retryInterval, exhausted retries recovering on
// the next values change; upgrade remediation by uninstall; serviceAccountName impersonation; a chart with a
// subchart in charts/ declared in Chart.yaml dependencies.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import type { ResourceRef } from "../../../controllers/runtime/kube";
import type { HelmRelease } from "../../../controllers/api";
import { projectRoot } from "../../../local/tools";
import { newNamespace } from "../../harness/cluster";
import { ConfigMaps, Deployments, HelmReleases, Secrets, chartReleases, condition, helm, startHelmEnv, waitForRelease, type HelmEnv } from "./env";

const Events: ResourceRef = { kind: "Event", group: "", version: "v1", plural: "events", namespaced: true };

interface Deployment {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { replicas: number; template: { spec: { containers: { name: string; image: string }[] } } };
}
interface EventObj {
  type: string;
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string };
}
interface ReleaseSecret {
  metadata: { name: string; labels: Record<string, string> };
  type: string;
  data: { release: string };
}

describe("HelmRelease options", { timeout: 900_000 }, () => {
  let env: HelmEnv;
  let ns: string;

  before(async () => {
    env = await startHelmEnv();
    ns = await newNamespace("helmopts");
    const out = await helm(["package", path.join(projectRoot(), "bench", "charts", "bench-app"), "-d", env.chartDir]);
    await env.charts.publish(env.admin, ns, "bench", /saved it to: (.+\.tgz)/.exec(out.stdout)![1]!.trim(), "1.0.0");
  });
  after(async () => {
    if (env) await env.stop();
  });

  const { create, ready } = chartReleases(() => env, () => ns, "bench", { values: { replicaCount: 0 } });
  const deployment = (name: string) => env.admin.get<Deployment>(Deployments, ns, name);
  const events = async (name: string) => (await env.admin.list<EventObj>(Events, ns)).items.filter((e) => e.involvedObject.kind === "HelmRelease" && e.involvedObject.name === name);
  const setValues = (name: string, values: Record<string, unknown>) => env.admin.patch(HelmReleases, ns, name, { spec: { values } });

  it("postRenderers (kustomize patches and images) and commonMetadata shape the applied objects", async () => {
    await create("shaped", {
      commonMetadata: { labels: { team: "blue" }, annotations: { "owner.example/contact": "blue@example.test" } },
      postRenderers: [
        {
          kustomize: {
            patches: [{ target: { kind: "Deployment" }, patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\n  labels:\n    patched: \"yes\"\n" }],
            images: [{ name: "ghcr.io/mooring/demo-app", newName: "registry.example.test/demo-app", newTag: "2.0.0" }],
          },
        },
      ],
    });
    await ready("shaped");
    const d = await deployment("shaped");
    assert.equal(d.metadata.labels?.patched, "yes", "the strategic merge patch ran on the Deployment");
    assert.equal(d.spec.template.spec.containers[0]!.image, "registry.example.test/demo-app:2.0.0", "the images transformer ran");
    assert.equal(d.metadata.labels?.team, "blue");
    assert.equal(d.metadata.annotations?.["owner.example/contact"], "blue@example.test");
    const sa = await env.admin.get<Deployment>({ kind: "ServiceAccount", group: "", version: "v1", plural: "serviceaccounts", namespaced: true }, ns, "shaped");
    assert.equal(sa.metadata.labels?.team, "blue", "commonMetadata reaches every object");
    assert.equal(sa.metadata.labels?.patched, undefined, "the patch targeted only the Deployment");
  });

  it("a release stuck in pending-upgrade is unlocked and upgraded", async () => {
    await create("stuck", {});
    await ready("stuck");
    // What a controller killed halfway through an upgrade leaves: v2 recorded as pending-upgrade.
    const v1 = await env.admin.get<ReleaseSecret>(Secrets, ns, "sh.helm.release.v1.stuck.v1");
    const rel = JSON.parse(gunzipSync(Buffer.from(Buffer.from(v1.data.release, "base64").toString(), "base64")).toString()) as { version: number; info: { status: string; description: string } };
    rel.version = 2;
    rel.info.status = "pending-upgrade";
    rel.info.description = "Preparing upgrade";
    const encoded = Buffer.from(gzipSync(Buffer.from(JSON.stringify(rel))).toString("base64")).toString("base64");
    await env.admin.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", type: v1.type, metadata: { name: "sh.helm.release.v1.stuck.v2", labels: { ...v1.metadata.labels, status: "pending-upgrade", version: "2" } }, data: { release: encoded } });
    const stuckOut = await helm(["status", "stuck", "-n", ns, "-o", "json"]);
    assert.equal((JSON.parse(stuckOut.stdout) as { info: { status: string } }).info.status, "pending-upgrade");
    await setValues("stuck", { replicaCount: 0, image: "ghcr.io/mooring/demo-app:1.0.1" });
    const hr = await waitForRelease(env.admin, ns, "stuck", (r) => condition(r, "Ready")?.status === "True" && r.status?.history?.[0]?.version === 3, "stuck upgraded to v3", 180_000);
    assert.equal(hr.status!.history![0]!.status, "deployed");
    assert.equal(hr.status!.history![1]!.status, "failed", "the pending version was marked failed");
    assert.equal((await deployment("stuck")).spec.template.spec.containers[0]!.image, "ghcr.io/mooring/demo-app:1.0.1");
    assert.ok((await events("stuck")).some((e) => e.reason === "ReleaseUnlocked" && e.type === "Warning" && /v2 was left pending-upgrade/.test(e.message)));
  });

  it("upgrade.strategy RetryOnFailure retries at retryInterval without remediation; exhausted retries recover on the next values change", async () => {
    await create("retrying", { upgrade: { strategy: { name: "RetryOnFailure", retryInterval: "2s" }, remediation: { retries: 2 } } });
    await ready("retrying");
    const started = Date.now();
    await setValues("retrying", { replicaCount: -1 });
    const stalled = await waitForRelease(env.admin, ns, "retrying", (r) => (r.status?.upgradeFailures ?? 0) >= 3 && condition(r, "Stalled")?.status === "True", "retries exhausted", 120_000);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 60, `three attempts 2 s apart took ${seconds}s (the interval is 10m)`);
    assert.equal(condition(stalled, "Ready")?.status, "False");
    assert.equal(condition(stalled, "Remediated"), undefined, "RetryOnFailure does not roll back");
    assert.equal(stalled.status!.history![0]!.status, "failed");
    const failures = stalled.status!.upgradeFailures;
    await new Promise((r) => setTimeout(r, 4_000));
    assert.equal((await env.admin.get<HelmRelease>(HelmReleases, ns, "retrying")).status!.upgradeFailures, failures, "no attempt after retries ran out");
    // The next change of values starts a fresh series of attempts, with no suspend/resume.
    await setValues("retrying", { replicaCount: 0, image: "ghcr.io/mooring/demo-app:1.0.2" });
    const recovered = await ready("retrying", "retrying recovered");
    assert.equal(recovered.status!.history![0]!.status, "deployed");
    assert.equal((await deployment("retrying")).spec.template.spec.containers[0]!.image, "ghcr.io/mooring/demo-app:1.0.2");
  });

  it("upgrade remediation strategy uninstall uninstalls the failed release", async () => {
    await create("removed", { upgrade: { remediation: { retries: 1, strategy: "uninstall" } } });
    await ready("removed");
    await setValues("removed", { replicaCount: -1 });
    const hr = await waitForRelease(env.admin, ns, "removed", (r) => condition(r, "Remediated")?.reason === "UninstallSucceeded", "removed remediated by uninstall", 120_000);
    assert.equal(condition(hr, "Remediated")?.status, "True");
    const history = await helm(["history", "removed", "-n", ns], { allowFail: true });
    assert.notEqual(history.code, 0);
    assert.match(history.stderr, /not found/, "the release and its history are gone");
    await assert.rejects(deployment("removed"), /not found/i, "the release's objects are gone");
  });

  it("serviceAccountName: Helm acts as that ServiceAccount (impersonation)", async () => {
    await create("limited", { serviceAccountName: "nobody", install: { remediation: { retries: -1 } } });
    const hr = await waitForRelease(env.admin, ns, "limited", (r) => condition(r, "Ready")?.status === "False" && /nobody/.test(condition(r, "Ready")!.message), "limited refused as nobody", 120_000);
    assert.match(condition(hr, "Ready")!.message, new RegExp(`system:serviceaccount:${ns}:nobody`));
    assert.match(condition(hr, "Ready")!.message, /forbidden/i);
  });

  it("chart dependencies: a subchart in charts/ declared in Chart.yaml is installed with its parent", async () => {
    const dir = fs.mkdtempSync(path.join(env.chartDir, "umbrella-"));
    const sub = path.join(dir, "umbrella", "charts", "sub");
    fs.mkdirSync(path.join(sub, "templates"), { recursive: true });
    fs.mkdirSync(path.join(dir, "umbrella", "templates"), { recursive: true });
    fs.writeFileSync(path.join(dir, "umbrella", "Chart.yaml"), "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n  - name: sub\n    version: 0.2.0\n");
    fs.writeFileSync(path.join(dir, "umbrella", "values.yaml"), "sub:\n  greeting: from-parent\n");
    fs.writeFileSync(path.join(dir, "umbrella", "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-parent\ndata:\n  chart: {{ .Chart.Name }}\n");
    fs.writeFileSync(path.join(sub, "Chart.yaml"), "apiVersion: v2\nname: sub\nversion: 0.2.0\n");
    fs.writeFileSync(path.join(sub, "values.yaml"), "greeting: hello\n");
    fs.writeFileSync(path.join(sub, "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-sub\ndata:\n  greeting: {{ .Values.greeting }}\n");
    const out = await helm(["package", path.join(dir, "umbrella"), "-d", dir]);
    await env.charts.publish(env.admin, ns, "umbrella", /saved it to: (.+\.tgz)/.exec(out.stdout)![1]!.trim(), "0.1.0");
    await create("deps", { chartRef: { kind: "HelmChart", name: "umbrella" }, values: {} });
    await ready("deps");
    const subCm = await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "deps-sub");
    assert.equal(subCm.data.greeting, "from-parent", "the parent's values reach the subchart");
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "deps-parent")).data.chart, "umbrella");
  });
});
