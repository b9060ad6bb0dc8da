import { test } from "node:test";
import * as assert from "node:assert/strict";
import { crds, KustomizationKind, kustomizeControllerRbac, kustomizeControllerRules } from "../../../controllers/api";
import type { JSONSchemaProps } from "../../../controllers/api/schema";
import { knownControllers } from "../../../controllers/main";

type CrdSpec = { group: string; names: { kind: string; shortNames: string[] }; versions: { name: string; subresources: unknown; additionalPrinterColumns: { name: string }[]; schema: { openAPIV3Schema: JSONSchemaProps } }[] };

test("the Kustomization CRD has Flux's group, version, fields, status subresource and printer columns", () => {
  const crd = crds().find((c) => c.metadata.name === "kustomizations.kustomize.toolkit.fluxcd.io");
  assert.ok(crd);
  const spec = crd.spec as CrdSpec;
  assert.equal(spec.group, "kustomize.toolkit.fluxcd.io");
  assert.equal(spec.names.kind, "Kustomization");
  assert.deepEqual(spec.names.shortNames, ["ks"]);
  const v = spec.versions[0]!;
  assert.equal(v.name, "v1");
  assert.deepEqual(v.subresources, { status: {} });
  assert.deepEqual(v.additionalPrinterColumns.map((c) => c.name), ["Age", "Ready", "Status"]);
  const ks = v.schema.openAPIV3Schema.properties!.spec!;
  assert.deepEqual(ks.required, ["sourceRef", "interval", "prune"]);
  for (const f of ["path", "interval", "retryInterval", "timeout", "prune", "wait", "healthChecks", "dependsOn", "force", "suspend", "targetNamespace", "namePrefix", "nameSuffix", "commonMetadata", "patches", "images", "components", "postBuild", "serviceAccountName", "deletionPolicy"]) {
    assert.ok(ks.properties![f], `spec.${f}`);
  }
  assert.deepEqual(ks.properties!.sourceRef!.properties!.kind!.enum, ["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"]);
  assert.deepEqual(ks.properties!.deletionPolicy!.enum, ["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]);
  const status = v.schema.openAPIV3Schema.properties!.status!;
  for (const f of ["observedGeneration", "conditions", "lastAppliedRevision", "lastAttemptedRevision", "lastHandledReconcileAt", "inventory"]) assert.ok(status.properties![f], `status.${f}`);
  assert.deepEqual(status.properties!.inventory!.properties!.entries!.items!.required, ["id", "v"]);
  assert.equal(KustomizationKind.apiVersion, "kustomize.toolkit.fluxcd.io/v1");
  assert.equal(crds()[0]!.metadata.name, "gitrepositories.source.toolkit.fluxcd.io", "install order keeps sources first");
});

test("the kustomize-controller RBAC: its CRDs, sources read-only, secrets/configmaps read, impersonation, events, leases; cluster-admin via a binding", () => {
  const rules = kustomizeControllerRules();
  const has = (res: string, verb: string) => rules.some((r) => r.resources.includes(res) && r.verbs.includes(verb));
  assert.ok(has("kustomizations", "watch") && has("kustomizations/status", "update") && has("kustomizations/finalizers", "update"));
  assert.ok(has("gitrepositories", "get") && !has("gitrepositories", "update"));
  assert.ok(has("secrets", "get") && has("configmaps", "get") && !has("secrets", "create"));
  assert.ok(has("serviceaccounts", "impersonate"));
  assert.ok(has("events", "create"));
  assert.ok(!rules.some((r) => r.verbs.includes("*") || r.resources.includes("*")), "no wildcards in the controller's own role");
  const objs = kustomizeControllerRbac("flux-system");
  const admin = objs.find((o) => o.kind === "ClusterRoleBinding" && (o as unknown as { roleRef: { name: string } }).roleRef.name === "cluster-admin");
  assert.ok(admin, "cluster-admin binding, as Flux's install");
  assert.ok(!kustomizeControllerRbac("flux-system", { clusterAdmin: false }).some((o) => (o as unknown as { roleRef?: { name: string } }).roleRef?.name === "cluster-admin"));
  assert.equal(objs.find((o) => o.kind === "Role")!.metadata.namespace, "flux-system");
  assert.ok(knownControllers.includes("kustomize"));
});
