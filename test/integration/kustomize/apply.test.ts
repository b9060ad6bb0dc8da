// The vertical slice: a GitRepository artifact is built, applied in stages with server-side apply, recorded
// in the inventory, pruned when it leaves git, and reported Ready with lastAppliedRevision.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import {
  ConfigMaps,
  CRDs,
  Deployments,
  Kustomizations,
  Namespaces,
  configMap,
  createKustomization,
  deployment,
  eventsMatching,
  getOrUndefined,
  newFleet,
  startKustomizeEnv,
  waitKs,
  type KustomizeEnv,
} from "./env";
import type { Kustomization } from "../../../controllers/api";
import type { ResourceRef } from "../../../controllers/runtime/kube";
import { waitFor } from "../../harness/cluster";
import { toolPath } from "../../../local/tools";
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { requestReconcile } from "./env";

type Obj = { metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; managedFields?: { manager: string; operation: string }[]; resourceVersion: string }; data?: Record<string, string>; spec?: Record<string, unknown> };

describe("Kustomization apply, inventory and prune", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("applies a build with server-side apply, labels, inventory and Ready at the revision", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const rev = await fleet.commit({
      "apps/kustomization.yaml": "resources:\n  - config.yaml\n  - web.yaml\n",
      "apps/config.yaml": configMap("settings", { mode: "blue" }, ns),
      "apps/web.yaml": deployment("web", ns, 1),
    });
    await createKustomization(env, ns, "apps", { path: "./apps" });
    const ks = await waitKs(env, ns, "apps", "True");
    assert.equal(ks.status!.lastAppliedRevision, rev);
    assert.equal(ks.status!.lastAttemptedRevision, rev);
    assert.equal(ks.status!.observedGeneration, ks.metadata.generation);
    assert.match(ks.status!.conditions!.find((c) => c.type === "Ready")!.message, new RegExp(`Applied revision: ${rev}`));
    assert.equal(ks.status!.conditions!.find((c) => c.type === "Ready")!.reason, "ReconciliationSucceeded");
    assert.deepEqual(ks.status!.inventory!.entries, [
      { id: `${ns}_settings__ConfigMap`, v: "v1" },
      { id: `${ns}_web_apps_Deployment`, v: "v1" },
    ]);
    assert.ok(ks.metadata.finalizers?.includes("finalizers.fluxcd.io"));
    const cm = (await env.admin.get<Obj>(ConfigMaps, ns, "settings"));
    assert.equal(cm.metadata.labels!["kustomize.toolkit.fluxcd.io/name"], "apps");
    assert.equal(cm.metadata.labels!["kustomize.toolkit.fluxcd.io/namespace"], ns);
    assert.ok(cm.metadata.managedFields!.some((m) => m.manager === "kustomize-controller" && m.operation === "Apply"), "applied with SSA as kustomize-controller");

    // An unchanged revision costs no write.
    const rv = cm.metadata.resourceVersion;
    const next = await fleet.commit({ "apps/web.yaml": deployment("web", ns, 2) });
    await waitKs(env, ns, "apps", "True", (k) => k.status?.lastAppliedRevision === next);
    assert.equal((await env.admin.get<Obj>(ConfigMaps, ns, "settings")).metadata.resourceVersion, rv, "unchanged ConfigMap was not written");
    assert.equal((await env.admin.get<Obj>(Deployments, ns, "web")).spec!.replicas, 2);
    await eventsMatching(env.admin, ns, "apps", (e) => e.type === "Normal" && /Deployment\/.*\/web configured/.test(e.note), (e) => /ConfigMap\/.*\/settings created/.test(e.note));
  });

  test("a CRD and its custom resource, and a namespace and its objects, in one build", async (t) => {
    const fleet = await newFleet(t, env, {});
    const suffix = fleet.ns.slice(-6);
    const group = `t${suffix}.mooring.dev`;
    const appNs = `team-${suffix}`;
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.${group}
spec:
  group: ${group}
  names: { kind: Widget, plural: widgets, singular: widget, listKind: WidgetList }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, properties: { size: { type: integer } } }
`;
    const rev = await fleet.commit({
      "infra/crd.yaml": crd,
      "infra/ns.yaml": `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${appNs}\n`,
      "infra/widget.yaml": `apiVersion: ${group}/v1\nkind: Widget\nmetadata:\n  name: big\n  namespace: ${appNs}\nspec:\n  size: 3\n`,
      "infra/nested/config.yaml": configMap("nested", { a: "1" }, appNs),
      "infra/notes.yaml": "just: some values\n",
    });
    t.after(async () => {
      await env.admin.delete(CRDs, undefined, `widgets.${group}`).catch(() => undefined);
      await env.admin.delete(Namespaces, undefined, appNs).catch(() => undefined);
    });
    // No kustomization.yaml: one is generated from the YAML files (recursively; non-objects left out).
    await createKustomization(env, fleet.ns, "infra", { path: "./infra" });
    const ks = await waitKs(env, fleet.ns, "infra", "True");
    assert.equal(ks.status!.lastAppliedRevision, rev);
    const ids = ks.status!.inventory!.entries.map((e) => e.id);
    assert.deepEqual(ids, [`_${appNs}__Namespace`, `_widgets.${group}_apiextensions.k8s.io_CustomResourceDefinition`, `${appNs}_big_${group}_Widget`, `${appNs}_nested__ConfigMap`]);
    const widgets: ResourceRef = { kind: "Widget", group, version: "v1", plural: "widgets", namespaced: true };
    const w = await env.admin.get<{ spec: { size: number } }>(widgets, appNs, "big");
    assert.equal(w.spec.size, 3);
    const staged = env.logs.find((l) => l.msg === "server-side apply completed" && l.name === "infra");
    assert.ok(staged, "apply completed logged");
  });

  test("objects removed from git are pruned; prune-disabled objects are kept; deletion prunes the inventory", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "app/a.yaml": configMap("a", { x: "1" }, ns),
      "app/b.yaml": configMap("b", { x: "1" }, ns),
      "app/keep.yaml": configMap("keep", { x: "1" }, ns, { "kustomize.toolkit.fluxcd.io/prune": "disabled" }),
    });
    await createKustomization(env, ns, "app", { path: "./app" });
    await waitKs(env, ns, "app", "True");
    const rev = await fleet.commit({ "app/b.yaml": null, "app/keep.yaml": null });
    const ks = await waitKs(env, ns, "app", "True", (k) => k.status?.lastAppliedRevision === rev);
    assert.deepEqual(ks.status!.inventory!.entries.map((e) => e.id), [`${ns}_a__ConfigMap`]);
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "b"), undefined, "b pruned");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "keep"), "prune: disabled kept");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "a"));
    await eventsMatching(env.admin, ns, "app", (e) => /ConfigMap\/.*\/b deleted/.test(e.note));

    await env.admin.delete(Kustomizations, ns, "app");
    await waitFor(async () => (await getOrUndefined(env.admin, Kustomizations, ns, "app")) === undefined, { what: "Kustomization gone", timeoutMs: 30_000 });
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "a"), undefined, "inventory pruned on deletion");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "keep"));
  });

  test("deletionPolicy Orphan keeps objects; prune: false keeps objects that left git", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "app/a.yaml": configMap("a", { x: "1" }, ns), "app/b.yaml": configMap("b", { x: "1" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app", prune: false, deletionPolicy: "Orphan" });
    await waitKs(env, ns, "app", "True");
    const rev = await fleet.commit({ "app/b.yaml": null });
    await waitKs(env, ns, "app", "True", (k) => k.status?.lastAppliedRevision === rev);
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "b"), "prune: false keeps b");
    await env.admin.delete(Kustomizations, ns, "app");
    await waitFor(async () => (await getOrUndefined(env.admin, Kustomizations, ns, "app")) === undefined, { what: "Kustomization gone", timeoutMs: 30_000 });
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "a"), "Orphan keeps a");
  });

  test("ssa IfNotPresent creates once and never overwrites; Ignore is never applied", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "app/once.yaml": configMap("once", { v: "git" }, ns, { "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent" }),
      "app/ignored.yaml": configMap("ignored", { v: "git" }, ns, { "kustomize.toolkit.fluxcd.io/ssa": "Ignore" }),
      "app/merge.yaml": configMap("merge", { v: "git" }, ns, { "kustomize.toolkit.fluxcd.io/ssa": "Merge" }),
    });
    await createKustomization(env, ns, "app", { path: "./app" });
    await waitKs(env, ns, "app", "True");
    assert.equal((await env.admin.get<Obj>(ConfigMaps, ns, "once")).data!.v, "git");
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "ignored"), undefined, "Ignore: not created");
    assert.equal((await env.admin.get<Obj>(ConfigMaps, ns, "merge")).data!.v, "git");
    await env.admin.patch(ConfigMaps, ns, "once", { data: { v: "edited" } });
    const rev = await fleet.commit({ "app/once.yaml": configMap("once", { v: "git2" }, ns, { "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent" }) });
    await waitKs(env, ns, "app", "True", (k: Kustomization) => k.status?.lastAppliedRevision === rev);
    assert.equal((await env.admin.get<Obj>(ConfigMaps, ns, "once")).data!.v, "edited", "IfNotPresent never overwrites");
  });

  test("an object that exists outside the inventory is adopted: applied over, kubectl's fields handed over, reported configured", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const kubectl = await toolPath("kubectl");
    const manifest = path.join(await fs.mkdtemp(path.join(os.tmpdir(), "mooring-adopt-")), "cm.yaml");
    await fs.writeFile(manifest, configMap("adopted", { v: "kubectl", extra: "by-hand" }, ns));
    await promisify(execFile)(kubectl, ["apply", "-f", manifest], { env: { ...process.env, KUBECONFIG: env.kubeconfigPath } });
    await fleet.commit({ "app/adopted.yaml": configMap("adopted", { v: "git" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app" });
    await waitKs(env, ns, "app", "True");
    const cm = await env.admin.get<Obj>(ConfigMaps, ns, "adopted");
    assert.deepEqual(cm.data, { v: "git" }, "git's data, kubectl's extra key gone with kubectl's ownership");
    assert.equal(cm.metadata.annotations?.["kubectl.kubernetes.io/last-applied-configuration"], undefined);
    assert.ok(!cm.metadata.managedFields!.some((m) => m.manager.startsWith("kubectl")), JSON.stringify(cm.metadata.managedFields));
    await eventsMatching(env.admin, ns, "app", (e) => new RegExp(`ConfigMap/${ns}/adopted configured`).test(e.note));
  });

  test("fields kubectl added are taken over and removed on the next apply, except with ssa: Merge", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "app/owned.yaml": configMap("owned", { v: "git" }, ns),
      "app/merged.yaml": configMap("merged", { v: "git" }, ns, { "kustomize.toolkit.fluxcd.io/ssa": "Merge" }),
    });
    await createKustomization(env, ns, "app", { path: "./app", interval: "1h" });
    await waitKs(env, ns, "app", "True");
    const kubectl = await toolPath("kubectl");
    for (const name of ["owned", "merged"]) {
      await promisify(execFile)(kubectl, ["label", `configmap/${name}`, "-n", ns, "added-by=kubectl"], { env: { ...process.env, KUBECONFIG: env.kubeconfigPath } });
    }
    const token = await requestReconcile(env.admin, ns, "app");
    await waitKs(env, ns, "app", "True", (k) => k.status?.lastHandledReconcileAt === token);
    const owned = await env.admin.get<Obj>(ConfigMaps, ns, "owned");
    const merged = await env.admin.get<Obj>(ConfigMaps, ns, "merged");
    assert.equal(owned.metadata.labels!["added-by"], undefined, "kubectl's label removed");
    assert.ok(!owned.metadata.managedFields!.some((m) => m.manager.startsWith("kubectl")), "kubectl no longer owns fields");
    assert.equal(merged.metadata.labels!["added-by"], "kubectl", "ssa: Merge keeps fields of other managers");
  });
});
