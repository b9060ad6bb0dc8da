// The floor-gitops loop sends, per app, exactly the requests it claims (counted by the apiserver itself) and
// leaves what a controller would: finalizer, Ready status with the inventory, the 4 objects applied.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { KubeClient, loadKubeConfig, type KubeObject } from "../../../controllers/runtime/kube";
import { crds } from "../../../controllers/api";
import { formatId, objectIdOf } from "../../../controllers/kustomize/inventory";
import { KustomizeFinalizer } from "../../../controllers/kustomize/reconciler";
import { runGitopsFloor } from "../../../bench/gitopsfloor";
import { apply, refFor, refs } from "../../../bench/cluster";
import { readRequestCounts, type RequestCounts } from "../../../bench/requests";
import * as w from "../../../bench/workload";

const n = 3;
const apps = Array.from({ length: n }, (_, i) => i + 1);

interface Kustomization extends KubeObject {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[]; inventory?: { entries: { id: string; v: string }[] } };
}

describe("bench floor-gitops loop", () => {
  let client: KubeClient;
  let before0: RequestCounts;
  let after0: RequestCounts;

  before(async () => {
    const file = process.env.MOORING_TEST_KUBECONFIG;
    if (!file) throw new Error("MOORING_TEST_KUBECONFIG is not set: run via `npm test`");
    client = new KubeClient(await loadKubeConfig(file));
    for (const crd of crds()) await apply(client, crd as unknown as KubeObject, "mooring-test");
    for (let i = 0; ; i++) {
      const got = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(refs.crd, undefined, "kustomizations.kustomize.toolkit.fluxcd.io");
      if (got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (i > 100) throw new Error("Kustomization CRD not Established");
      await new Promise((r) => setTimeout(r, 100));
    }
    await apply(client, { apiVersion: "v1", kind: "Namespace", metadata: { name: w.sourceNamespace } }, "mooring-test");
    for (const i of apps) await apply(client, w.appNamespace(i), "mooring-test");
    before0 = await readRequestCounts(client);
    await runGitopsFloor(client, n, 2, "main@sha1:0123456789abcdef0123456789abcdef01234567");
    after0 = await readRequestCounts(client);
  });

  after(async () => {
    for (const i of apps) {
      const name = w.appName(i);
      await client.patch(refs.kustomization, w.sourceNamespace, name, { metadata: { finalizers: null } }).catch(() => undefined);
      await client.delete(refs.kustomization, w.sourceNamespace, name).catch(() => undefined);
      await client.delete(refs.namespace, undefined, name).catch(() => undefined);
    }
  });

  it("sends per app: create, finalizer, 3 dry runs, 4 applies, status", () => {
    const delta = (key: string) => Math.round((after0.get(key) ?? 0) - (before0.get(key) ?? 0));
    assert.equal(delta("POST kustomizations"), n);
    assert.equal(delta("PATCH kustomizations"), n);
    assert.equal(delta("PUT kustomizations/status"), n);
    for (const plural of ["deployments", "serviceaccounts", "services", "ingresses"]) assert.equal(delta(`APPLY ${plural}`), n, plural);
    const dryRuns = ["deployments", "serviceaccounts", "services", "ingresses"].map((p) => delta(`APPLY ${p} (dry run)`));
    assert.equal(dryRuns.reduce((a, b) => a + b, 0), 3 * n, `dry runs: ${dryRuns.join(",")}`);
    assert.ok(dryRuns.filter((d) => d === 0).length === 1, "one object per app is validated by its own apply");
  });

  it("leaves each Kustomization Ready with the finalizer and its 4 objects in the inventory, the objects applied", async () => {
    for (const i of apps) {
      const k = await client.get<Kustomization>(refs.kustomization, w.sourceNamespace, w.appName(i));
      assert.deepEqual(k.metadata.finalizers, [KustomizeFinalizer]);
      assert.equal(k.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
      assert.equal(k.status?.observedGeneration, k.metadata.generation);
      assert.equal(k.status?.inventory?.entries.length, 4);
      for (const o of w.floorObjects(i)) {
        const live = await client.get<KubeObject & { metadata: { managedFields?: { manager: string; operation: string }[] } }>(refFor(o.apiVersion, o.kind), o.metadata.namespace, o.metadata.name);
        assert.ok(live.metadata.managedFields?.some((f) => f.manager === "bench-gitops-floor" && f.operation === "Apply"), `${o.kind} ${o.metadata.name}`);
        assert.ok(k.status!.inventory!.entries.some((e) => e.id === formatId(objectIdOf(o))));
      }
    }
  });
});
