// --default-service-account for the kustomize-controller on a real apiserver: the flag parsed from a command
// line; a Kustomization without serviceAccountName applies as that ServiceAccount of its namespace, which may
// write ConfigMaps only. A ConfigMap is applied; a Service in the build fails Ready naming the account.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { ResourceRef } from "../../../controllers/runtime/kube";
import { parseControllersArgs } from "../../../controllers/flags";
import { ConfigMaps, Services, cond, configMap, createKustomization, getOrUndefined, newFleet, startKustomizeEnv, waitKs, type KustomizeEnv } from "./env";

const rbac = (kind: string, plural: string): ResourceRef => ({ kind, group: "rbac.authorization.k8s.io", version: "v1", plural, namespaced: true });
const ServiceAccounts: ResourceRef = { kind: "ServiceAccount", group: "", version: "v1", plural: "serviceaccounts", namespaced: true };

const service = (name: string, ns: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  ports:
    - port: 80
`;

describe("Kustomization with --default-service-account", () => {
  let env: KustomizeEnv;
  before(async () => {
    const cli = parseControllersArgs(["--controllers=kustomize", "--default-service-account=deployer"], {});
    assert.ok(!cli.help);
    env = await startKustomizeEnv({ defaultServiceAccount: cli.options.defaultServiceAccount });
  });
  after(async () => {
    await env?.stop();
  });

  test("no serviceAccountName: applied as the default ServiceAccount; what it may not create fails naming it", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await env.admin.create(ServiceAccounts, ns, { metadata: { name: "deployer" } });
    await env.admin.create(rbac("Role", "roles"), ns, { metadata: { name: "deployer" }, rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["*"] }] });
    await env.admin.create(rbac("RoleBinding", "rolebindings"), ns, {
      metadata: { name: "deployer" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "deployer" },
      subjects: [{ kind: "ServiceAccount", name: "deployer", namespace: ns }],
    });
    const first = await fleet.commit({ "app/kustomization.yaml": "resources:\n  - cm.yaml\n", "app/cm.yaml": configMap("settings", { color: "blue" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app", retryInterval: "2s" });
    const ok = await waitKs(env, ns, "app", "True", (k) => k.status?.lastAppliedRevision === first);
    assert.deepEqual(ok.status!.inventory!.entries.map((e) => e.id), [`${ns}_settings__ConfigMap`]);

    await fleet.commit({ "app/kustomization.yaml": "resources:\n  - cm.yaml\n  - svc.yaml\n", "app/svc.yaml": service("web", ns) });
    const refused = await waitKs(env, ns, "app", "False", (k) => /deployer/.test(cond(k, "Ready")?.message ?? ""));
    const message = cond(refused, "Ready")!.message;
    assert.match(message, new RegExp(`system:serviceaccount:${ns}:deployer`), message);
    assert.match(message, /forbidden/i);
    assert.equal(await getOrUndefined(env.admin, Services, ns, "web"), undefined, "the Service was not applied with the controller's own identity");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "settings"));
  });
});
