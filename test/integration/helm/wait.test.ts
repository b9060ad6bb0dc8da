// Helm's wait in the helper reads readiness from watch caches: a release with a Deployment becomes Ready with
// no polling of the apiserver (no GET deployments or LIST replicasets beyond Helm's existence checks at
// create) and the storage Secrets listed once, a Deployment that never becomes ready fails the install with a message naming it, and an upgrade
// is not taken as ready from the previous generation's status. Runs on kwok nodes (--real-node=false).
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readRequestCounts, type RequestCounts } from "../../../bench/requests";
import { newNamespace } from "../../harness/cluster";
import { HelmReleases, chartReleases, condition, helm, startHelmEnv, waitForRelease, type HelmEnv } from "./env";

// A chart of one Deployment and its Service; values.nodeSelector can keep its pod from ever being scheduled.
const chartFiles: Record<string, string> = {
  "Chart.yaml": "apiVersion: v2\nname: waitdemo\nversion: 1.0.0\n",
  "values.yaml": "image: ghcr.io/mooring/demo-app:1.0.0\nnodeSelector: {}\n",
  "templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      nodeSelector: {{ toJson .Values.nodeSelector }}
      containers:
        - name: web
          image: {{ .Values.image }}
`,
  "templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
spec:
  selector: {app: {{ .Release.Name }}-web}
  ports: [{port: 80}]
`,
};

const count = (c: RequestCounts, key: string) => c.get(key) ?? 0;

describe("Helm's wait from watch caches", { timeout: 600_000 }, () => {
  let env: HelmEnv;
  let ns: string;

  before(async () => {
    ns = await newNamespace("helmwait");
    // The counts below are the apiserver's, for the whole cluster: the controller watches this namespace only, so
    // HelmReleases that earlier tests left elsewhere (reconciled, retried, uninstalled) do not add to them.
    env = await startHelmEnv({ watchNamespace: ns });
    const src = fs.mkdtempSync(path.join(os.tmpdir(), "waitdemo-"));
    for (const [file, text] of Object.entries(chartFiles)) {
      fs.mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
      fs.writeFileSync(path.join(src, file), text);
    }
    const out = await helm(["package", src, "-d", env.chartDir]);
    fs.rmSync(src, { recursive: true, force: true });
    await env.charts.publish(env.admin, ns, "waitdemo", /saved it to: (.+\.tgz)/.exec(out.stdout)![1]!.trim(), "1.0.0");
  });
  after(async () => {
    if (env) await env.stop();
  });

  const { create, ready } = chartReleases(() => env, () => ns, "waitdemo");

  it("a release with a Deployment becomes Ready without the apiserver being polled", async () => {
    // One release first, so the helper's informers for Deployments and Services run before the counted one.
    await create("warm", {});
    await ready("warm");
    const before = await readRequestCounts(env.admin);
    await create("counted", {});
    const hr = await ready("counted");
    const after = await readRequestCounts(env.admin);
    assert.equal(hr.status!.history![0]!.status, "deployed");
    const d = (key: string) => count(after, key) - count(before, key);
    const seen = JSON.stringify(Object.fromEntries([...after].map(([k, v]) => [k, v - count(before, k)]).filter(([, v]) => (v as number) > 0)));
    // Helm reads each object once before creating it (is it already there?); its wait used to read the
    // Deployment and Service and list ReplicaSets every 2 s until ready.
    assert.ok(d("GET deployments") <= 1, `GET deployments during the install: ${d("GET deployments")}; all requests: ${seen}`);
    assert.ok(d("GET services") <= 1, `GET services during the install: ${d("GET services")}; all requests: ${seen}`);
    assert.equal(d("LIST replicasets"), 0, `the wait lists no ReplicaSets; all requests: ${seen}`);
    assert.equal(d("LIST deployments"), 0, `the informers started with the first release; all requests: ${seen}`);
    // A first install looks the name up once (the controller's status request); Helm's own look-up and the
    // history after the install are answered without listing the storage Secrets again.
    assert.equal(d("LIST secrets"), 1, `LIST secrets during the install: ${d("LIST secrets")}; all requests: ${seen}`);
    assert.deepEqual(hr.status!.history!.map((h) => h.version), [1]);
  });

  it("a Deployment that never becomes ready fails the install, naming it", async () => {
    await create("stuck", { values: { nodeSelector: { "mooring.dev/no-such-node": "true" } }, install: { timeout: "8s" } });
    const hr = await waitForRelease(env.admin, ns, "stuck", (r) => condition(r, "Ready")?.status === "False" && (r.status?.installFailures ?? 0) >= 1, "install failed", 120_000);
    const message = condition(hr, "Released")?.message ?? condition(hr, "Ready")?.message ?? "";
    assert.match(message, new RegExp(`resource Deployment/${ns}/stuck-web not ready: 0 of 1 updated replicas available`), message);
    assert.match(message, /context deadline exceeded/, message);
  });

  it("an upgrade is not taken as ready from the status of the previous generation", async () => {
    await create("upgraded", {});
    await ready("upgraded");
    await env.admin.patch(HelmReleases, ns, "upgraded", { spec: { values: { nodeSelector: { "mooring.dev/no-such-node": "true" } }, upgrade: { timeout: "8s" } } });
    const hr = await waitForRelease(env.admin, ns, "upgraded", (r) => (r.status?.upgradeFailures ?? 0) >= 1 && condition(r, "Ready")?.status === "False", "upgrade failed", 120_000);
    assert.equal(hr.status!.history![0]!.status, "failed");
    assert.match(condition(hr, "Ready")?.message ?? "", new RegExp(`resource Deployment/${ns}/upgraded-web not ready`));
  });
});
