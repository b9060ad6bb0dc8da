// Multi-tenancy: a Kustomization impersonating a ServiceAccount that may only write its own namespace cannot
// apply cluster-scoped objects, and a build that contains one applies nothing at all.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigMaps, Kustomizations, cond, configMap, createKustomization, getOrUndefined, newFleet, requestReconcile, startKustomizeEnv, waitKs, type KustomizeEnv } from "./env";
import type { ResourceRef } from "../../../controllers/runtime/kube";
import type { Kustomization } from "../../../controllers/api";

const rbac = (kind: string, plural: string, namespaced: boolean): ResourceRef => ({ kind, group: "rbac.authorization.k8s.io", version: "v1", plural, namespaced });
const Roles = rbac("Role", "roles", true);
const RoleBindings = rbac("RoleBinding", "rolebindings", true);
const ClusterRoles = rbac("ClusterRole", "clusterroles", false);
const ServiceAccounts: ResourceRef = { kind: "ServiceAccount", group: "", version: "v1", plural: "serviceaccounts", namespaced: true };

const clusterRole = (name: string) => `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ${name}
rules:
  - apiGroups: ["*"]
    resources: ["*"]
    verbs: ["*"]
`;

describe("Kustomization tenant isolation", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("a tenant limited to its namespace: a ClusterRole in the build fails Ready naming it and the ServiceAccount; nothing is applied", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const roleName = `${ns}-escalate`;
    t.after(async () => {
      await env.admin.delete(ClusterRoles, undefined, roleName).catch(() => undefined);
    });
    // The tenant may do anything, but only inside its own namespace.
    await env.admin.create(ServiceAccounts, ns, { metadata: { name: "tenant" } });
    await env.admin.create(Roles, ns, { metadata: { name: "tenant-admin" }, rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] });
    await env.admin.create(RoleBindings, ns, {
      metadata: { name: "tenant-admin" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "tenant-admin" },
      subjects: [{ kind: "ServiceAccount", name: "tenant", namespace: ns }],
    });
    const rev = await fleet.commit({
      "tenant/kustomization.yaml": "resources:\n  - cm.yaml\n  - clusterrole.yaml\n",
      "tenant/cm.yaml": configMap("tenant-settings", { team: "a" }, ns),
      "tenant/clusterrole.yaml": clusterRole(roleName),
    });
    await createKustomization(env, ns, "tenant", { path: "./tenant", serviceAccountName: "tenant", retryInterval: "2s" });

    const ks = await waitKs(env, ns, "tenant", "False");
    const readyCond = cond(ks, "Ready")!;
    assert.equal(readyCond.reason, "ReconciliationFailed");
    assert.match(readyCond.message, new RegExp(`^ClusterRole/${roleName} dry-run failed: `), readyCond.message);
    assert.match(readyCond.message, new RegExp(`system:serviceaccount:${ns}:tenant`), "names the impersonated ServiceAccount");
    assert.match(readyCond.message, /forbidden/i);
    t.diagnostic(`Ready=False: ${readyCond.message}`);
    assert.equal(ks.status!.lastAttemptedRevision, rev);
    assert.equal(ks.status!.lastAppliedRevision, undefined);
    assert.deepEqual(ks.status!.inventory?.entries ?? [], [], "nothing in the inventory");

    // Retries (every 2 s) do not apply anything either.
    const token = await requestReconcile(env.admin, ns, "tenant");
    await waitKs(env, ns, "tenant", "False", (k) => k.status?.lastHandledReconcileAt === token);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "tenant-settings"), undefined, "the ConfigMap in the tenant's own namespace was not applied");
    assert.equal(await getOrUndefined(env.admin, ClusterRoles, undefined, roleName), undefined, "the ClusterRole was not applied");

    // Without the ClusterRole, the same tenant applies its namespace's objects: the failure was the ClusterRole.
    const fixed = await fleet.commit({ "tenant/kustomization.yaml": "resources:\n  - cm.yaml\n", "tenant/clusterrole.yaml": null });
    const ok = await waitKs(env, ns, "tenant", "True", (k: Kustomization) => k.status?.lastAppliedRevision === fixed, 30_000);
    assert.deepEqual(ok.status!.inventory!.entries.map((e) => e.id), [`${ns}_tenant-settings__ConfigMap`]);
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "tenant-settings"));
    assert.equal(await getOrUndefined(env.admin, ClusterRoles, undefined, roleName), undefined);
    assert.ok((await env.admin.get<Kustomization>(Kustomizations, ns, "tenant")).metadata.finalizers?.length);
  });
});
