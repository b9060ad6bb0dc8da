// The helm floor loop sends, per release, exactly the requests it claims (counted by the apiserver itself) and
// leaves what a Helm controller would: the HelmRelease Ready with its finalizer, the 4 objects created with Helm's
// ownership metadata, and a release the real `helm` CLI lists as deployed.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { KubeClient, loadKubeConfig, type KubeObject } from "../../../controllers/runtime/kube";
import { FluxFinalizer } from "../../../controllers/api/meta";
import { helmReleases, loadFloorChart, runHelmFloor } from "../../../bench/helmfloor";
import { apply, installCrds, refs } from "../../../bench/cluster";
import { readRequestCounts, type RequestCounts } from "../../../bench/requests";
import { projectRoot, toolPath } from "../../../local/tools";

const n = 3;
const namespace = `helm-floor-${Date.now().toString(36)}`;
const names = Array.from({ length: n }, (_, i) => `floor-${i + 1}`);

interface HelmRelease extends KubeObject {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[]; history?: { version: number; status: string }[] };
}

describe("bench helm floor loop", () => {
  let client: KubeClient;
  let before0: RequestCounts;
  let after0: RequestCounts;
  let kubeconfig: string;

  before(async () => {
    kubeconfig = process.env.MOORING_TEST_KUBECONFIG ?? "";
    if (!kubeconfig) throw new Error("MOORING_TEST_KUBECONFIG is not set: run via `npm test`");
    client = new KubeClient(await loadKubeConfig(kubeconfig));
    await installCrds(client, false);
    await apply(client, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, "mooring-test");
    // The namespace's own ServiceAccount (kube-controller-manager's POST) must not land among the counted requests.
    for (let i = 0; ; i++) {
      const found = await client.get(refs.serviceAccount, namespace, "default").then(() => true, () => false);
      if (found) break;
      if (i > 100) throw new Error(`no default ServiceAccount in ${namespace}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const values = { replicaCount: 0 };
    const chart = await loadFloorChart(path.join(projectRoot(), "bench", "charts", "bench-app"), values);
    const helmRelease = (i: number): KubeObject =>
      ({ apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease", metadata: { name: names[i - 1]!, namespace }, spec: { interval: "10m", chartRef: { kind: "OCIRepository", name: "bench-app" }, values } }) as KubeObject;
    before0 = await readRequestCounts(client);
    await runHelmFloor(client, n, { namespace, limit: 2, helmRelease, chart, signal: AbortSignal.timeout(120_000) });
    after0 = await readRequestCounts(client);
  });

  after(async () => {
    for (const name of names) await client.patch(helmReleases, namespace, name, { metadata: { finalizers: null } }).catch(() => undefined);
    await client.delete(refs.namespace, undefined, namespace).catch(() => undefined);
  });

  it("sends per release: create, finalizer, storage list, storage create and update, 4 creates, status", () => {
    const delta = (key: string) => Math.round((after0.get(key) ?? 0) - (before0.get(key) ?? 0));
    assert.equal(delta("POST helmreleases"), n);
    assert.equal(delta("PATCH helmreleases"), n);
    assert.equal(delta("PUT helmreleases/status"), n);
    assert.equal(delta("LIST secrets"), n);
    assert.equal(delta("POST secrets"), n);
    assert.equal(delta("PUT secrets"), n);
    for (const plural of ["deployments", "serviceaccounts", "services", "ingresses"]) {
      assert.equal(delta(`POST ${plural}`), n, plural);
      assert.equal(delta(`GET ${plural}`), 0, plural);
    }
  });

  it("leaves each HelmRelease Ready with the finalizer, and the objects with Helm's ownership metadata", async () => {
    for (const name of names) {
      const hr = await client.get<HelmRelease>(helmReleases, namespace, name);
      assert.deepEqual(hr.metadata.finalizers, [FluxFinalizer]);
      assert.equal(hr.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
      assert.equal(hr.status?.observedGeneration, hr.metadata.generation);
      assert.deepEqual(hr.status?.history?.map((h) => [h.version, h.status]), [[1, "deployed"]]);
      for (const ref of [refs.deployment, refs.serviceAccount, refs.service, refs.ingress]) {
        const o = await client.get<KubeObject>(ref, namespace, name);
        assert.equal(o.metadata.labels?.["app.kubernetes.io/managed-by"], "Helm", `${ref.kind} ${name}`);
        assert.equal(o.metadata.annotations?.["meta.helm.sh/release-name"], name);
      }
    }
  });

  it("writes releases the helm CLI lists as deployed, with the chart and values", async () => {
    const helm = await toolPath("helm");
    const run = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(helm, [...args, `--kubeconfig=${kubeconfig}`, "-n", namespace, "-o", "json"], (err, stdout, stderr) => (err ? reject(new Error(`helm ${args[0]}: ${stderr}`)) : resolve(stdout))),
      );
    const listed = JSON.parse(await run(["list"])) as { name: string; status: string; chart: string; revision: string }[];
    assert.deepEqual(listed.map((r) => [r.name, r.status, r.chart, r.revision]).sort(), names.map((x) => [x, "deployed", "bench-app-1.0.0", "1"]));
    assert.deepEqual(JSON.parse(await run(["get", "values", names[0]!])), { replicaCount: 0 });
  });
});
