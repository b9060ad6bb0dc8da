import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatId, inventoryOf, parseId, pruneOrder, stageOf, stages, staleEntries, type Manifest } from "../../../controllers/kustomize/inventory";
import { mergeInventory } from "../../../controllers/kustomize/reconciler";
import { changeSetSummary, countActions, isImmutableError } from "../../../controllers/kustomize/apply";
import { ApiError } from "../../../controllers/runtime/kube";

const m = (apiVersion: string, kind: string, name: string, namespace?: string): Manifest => ({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } });

test("inventory ids follow Flux: <ns>_<name>_<group>_<kind>, ':' as '__', sorted, with the version", () => {
  assert.equal(formatId({ namespace: "apps", name: "web", group: "apps", kind: "Deployment" }), "apps_web_apps_Deployment");
  assert.equal(formatId({ namespace: "", name: "system:admins", group: "rbac.authorization.k8s.io", kind: "ClusterRole" }), "_system__admins_rbac.authorization.k8s.io_ClusterRole");
  assert.deepEqual(parseId("_system__admins_rbac.authorization.k8s.io_ClusterRole"), { namespace: "", name: "system:admins", group: "rbac.authorization.k8s.io", kind: "ClusterRole" });
  assert.deepEqual(parseId("apps_settings__ConfigMap"), { namespace: "apps", name: "settings", group: "", kind: "ConfigMap" });
  assert.deepEqual(inventoryOf([m("apps/v1", "Deployment", "web", "b"), m("v1", "ConfigMap", "c", "a")]), [
    { id: "a_c__ConfigMap", v: "v1" },
    { id: "b_web_apps_Deployment", v: "v1" },
  ]);
});

test("stale entries are those the new inventory lacks", () => {
  const old = [{ id: "a_x__ConfigMap", v: "v1" }, { id: "a_y__ConfigMap", v: "v1" }];
  assert.deepEqual(staleEntries(old, [{ id: "a_x__ConfigMap", v: "v1" }]), [{ id: "a_y__ConfigMap", v: "v1" }]);
});

test("stages: CRDs, Namespaces and cluster roles first, class definitions next, then the rest in kind order", () => {
  const objs = [
    m("example.com/v1", "Widget", "w", "team"),
    m("apps/v1", "Deployment", "web", "team"),
    m("v1", "ConfigMap", "c", "team"),
    m("storage.k8s.io/v1", "StorageClass", "fast"),
    m("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
    m("v1", "Namespace", "team"),
    m("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
    m("v1", "ServiceAccount", "sa", "team"),
  ];
  const s = stages(objs);
  assert.deepEqual(s.map((x) => x.name), ["cluster definitions", "class definitions", "resources"]);
  assert.deepEqual(s[0]!.objects.map((o) => o.kind), ["Namespace", "CustomResourceDefinition", "ClusterRole"]);
  assert.deepEqual(s[1]!.objects.map((o) => o.kind), ["StorageClass"]);
  assert.deepEqual(s[2]!.objects.map((o) => o.kind), ["ServiceAccount", "ConfigMap", "Deployment", "Widget"]);
  assert.equal(stageOf(m("example.com/v1", "Namespace", "not-core")), "resources");
});

test("prune order is the reverse of apply order: workloads before namespaces and CRDs", () => {
  const ids = ["_team__Namespace", "team_web_apps_Deployment", "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition", "team_c__ConfigMap"].map((id) => ({ id: parseId(id), v: "v1" }));
  assert.deepEqual(pruneOrder(ids).map((e) => e.id.kind), ["Deployment", "ConfigMap", "CustomResourceDefinition", "Namespace"]);
});

test("a failed apply keeps the old inventory plus what it wrote", () => {
  const merged = mergeInventory([{ id: "a_old__ConfigMap", v: "v1" }], [
    { id: { namespace: "a", name: "new", group: "", kind: "ConfigMap" }, subject: "ConfigMap/a/new", action: "created", v: "v1" },
  ]);
  assert.deepEqual(merged.map((e) => e.id), ["a_new__ConfigMap", "a_old__ConfigMap"]);
});

test("ChangeSet summaries list changes, not unchanged objects", () => {
  const cs = [
    { id: parseId("a_x__ConfigMap"), subject: "ConfigMap/a/x", action: "created" as const, v: "v1" },
    { id: parseId("a_y__ConfigMap"), subject: "ConfigMap/a/y", action: "unchanged" as const, v: "v1" },
    { id: parseId("a_z__ConfigMap"), subject: "ConfigMap/a/z", action: "deleted" as const, v: "v1" },
  ];
  assert.equal(changeSetSummary(cs), "ConfigMap/a/x created\nConfigMap/a/z deleted");
  assert.deepEqual(countActions(cs), { created: 1, configured: 0, unchanged: 1, deleted: 1, skipped: 0 });
});

test("immutable-field errors are recognised (Job template, Service clusterIP)", () => {
  assert.ok(isImmutableError(new ApiError(422, "Invalid", 'Job.batch "m" is invalid: spec.template: Invalid value: ...: field is immutable')));
  assert.ok(isImmutableError(new ApiError(422, "Invalid", 'Service "api" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.0.0.51"}: may not change once set')));
  assert.ok(!isImmutableError(new ApiError(422, "Invalid", "spec.ports[0].port: Invalid value: 99999")));
  assert.ok(!isImmutableError(new ApiError(409, "Conflict", "field is immutable")));
});
