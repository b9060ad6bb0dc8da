// Bad input ends in Ready=False with a message naming the file or object, and nothing from a failing build
// or a failing stage is applied.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigMaps, Deployments, GitRepos, cond, configMap, createKustomization, deployment, getOrUndefined, newFleet, startKustomizeEnv, waitKs, type KustomizeEnv } from "./env";
import type { GitRepository } from "../../../controllers/api/source";

describe("Kustomization failures", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("invalid YAML, kustomize errors and a missing path fail the build and apply nothing", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const rev = await fleet.commit({
      "yaml/good.yaml": configMap("from-yaml", { a: "1" }, ns),
      "yaml/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [unclosed\n",
      "kerr/kustomization.yaml": "resources:\n  - good.yaml\n  - missing.yaml\n",
      "kerr/good.yaml": configMap("from-kerr", { a: "1" }, ns),
      "remote/kustomization.yaml": "resources:\n  - https://github.com/example/fleet//apps?ref=main\n",
      "escape/kustomization.yaml": "resources:\n  - ../../../etc\n",
    });
    await createKustomization(env, ns, "yaml", { path: "./yaml" });
    await createKustomization(env, ns, "kerr", { path: "./kerr" });
    await createKustomization(env, ns, "nopath", { path: "./apps" });
    await createKustomization(env, ns, "remote", { path: "./remote" });
    await createKustomization(env, ns, "escape", { path: "./escape" });

    const yaml = await waitKs(env, ns, "yaml", "False");
    assert.equal(cond(yaml, "Ready")!.reason, "BuildFailed");
    assert.match(cond(yaml, "Ready")!.message, /yaml\/bad\.yaml/);
    assert.equal(yaml.status!.lastAttemptedRevision, rev);
    assert.equal(yaml.status!.lastAppliedRevision, undefined);

    const kerr = await waitKs(env, ns, "kerr", "False");
    assert.equal(cond(kerr, "Ready")!.reason, "BuildFailed");
    assert.match(cond(kerr, "Ready")!.message, /missing\.yaml/);

    const nopath = await waitKs(env, ns, "nopath", "False");
    assert.equal(cond(nopath, "Ready")!.reason, "ArtifactFailed");
    assert.equal(cond(nopath, "Ready")!.message, `kustomization path './apps' not found in revision ${rev}`);

    const remote = await waitKs(env, ns, "remote", "False");
    assert.match(cond(remote, "Ready")!.message, /remote bases are not allowed/);
    const escape = await waitKs(env, ns, "escape", "False");
    assert.match(cond(escape, "Ready")!.message, /points outside the source artifact/);

    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "from-yaml"), undefined, "nothing applied from the failing build");
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "from-kerr"), undefined);
    assert.equal(cond(yaml, "Reconciling")?.reason, "ProgressingWithRetry");
  });

  test("an artifact announced but missing from storage (404) is asked for again after requeueDependency, not the interval", async (t) => {
    const fleet = await newFleet(t, env, { "app/cm.yaml": configMap("back", { a: "1" }, "placeholder") });
    const ns = fleet.ns;
    const rev = await fleet.commit({ "app/cm.yaml": configMap("back", { a: "1" }, ns) });
    // As after a source-controller restart with an empty storage: the status still names the artifact.
    const url = (await env.admin.get<GitRepository>(GitRepos, ns, "fleet")).status!.artifact!.url;
    const file = path.join(env.storagePath, new URL(url).pathname);
    const saved = fs.readFileSync(file);
    fs.rmSync(file);
    await createKustomization(env, ns, "app", { path: "./app", interval: "1h" });
    const missing = await waitKs(env, ns, "app", "False");
    assert.equal(cond(missing, "Ready")!.reason, "ArtifactFailed");
    assert.equal(cond(missing, "Ready")!.message, "Source is not ready, artifact not found, retrying in 2s");
    // The artifact is back (the new source-controller rebuilt it): applied within seconds, though the interval is 1h.
    fs.writeFileSync(file, saved);
    const ready = await waitKs(env, ns, "app", "True", (k) => k.status?.lastAppliedRevision === rev, 20_000);
    assert.equal(cond(ready, "Ready")!.reason, "ReconciliationSucceeded");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "back"));
  });

  test("unknown kinds and apiserver validation errors name the object and apply nothing of the stage", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "unknown/cm.yaml": configMap("beside-unknown", { a: "1" }, ns),
      "unknown/thing.yaml": `apiVersion: nothing.mooring.dev/v1\nkind: Gizmo\nmetadata:\n  name: g1\n  namespace: ${ns}\n`,
      "invalid/cm.yaml": configMap("beside-invalid", { a: "1" }, ns),
      "invalid/svc.yaml": `apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n  namespace: ${ns}\nspec:\n  ports:\n    - port: 99999\n`,
      // The last object of a stage is validated by its own apply: whether it or another one is invalid, nothing is written.
      "invalid-first/svc.yaml": `apiVersion: v1\nkind: Service\nmetadata:\n  name: broken-first\n  namespace: ${ns}\nspec:\n  ports:\n    - port: 99999\n`,
      "invalid-first/web.yaml": deployment("after-invalid", ns, 1),
      "both-invalid/svc.yaml": `apiVersion: v1\nkind: Service\nmetadata:\n  name: broken-too\n  namespace: ${ns}\nspec:\n  ports:\n    - port: 99999\n`,
      "both-invalid/cm.yaml": configMap("beside-both", { a: "1" }, ns),
      "both-invalid/web.yaml": deployment("broken-web", ns, -1),
    });
    await createKustomization(env, ns, "unknown", { path: "./unknown" });
    await createKustomization(env, ns, "invalid", { path: "./invalid" });
    await createKustomization(env, ns, "invalid-first", { path: "./invalid-first" });
    await createKustomization(env, ns, "both-invalid", { path: "./both-invalid" });
    const unknown = await waitKs(env, ns, "unknown", "False");
    assert.equal(cond(unknown, "Ready")!.reason, "ReconciliationFailed");
    assert.match(cond(unknown, "Ready")!.message, new RegExp(`Gizmo/${ns}/g1 dry-run failed: no matches for kind "Gizmo"`));
    const invalid = await waitKs(env, ns, "invalid", "False");
    assert.match(cond(invalid, "Ready")!.message, new RegExp(`Service/${ns}/broken dry-run failed: .*99999`));
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "beside-unknown"), undefined);
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "beside-invalid"), undefined);
    const first = await waitKs(env, ns, "invalid-first", "False");
    assert.match(cond(first, "Ready")!.message, new RegExp(`^Service/${ns}/broken-first dry-run failed: .*99999`));
    assert.equal(await getOrUndefined(env.admin, Deployments, ns, "after-invalid"), undefined, "the valid object after the invalid one is not written");
    const both = await waitKs(env, ns, "both-invalid", "False");
    const message = cond(both, "Ready")!.message;
    assert.match(message, new RegExp(`Deployment/${ns}/broken-web dry-run failed: .*replicas`), "every failing object is named");
    assert.match(message, new RegExp(`Service/${ns}/broken-too dry-run failed: .*99999`));
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "beside-both"), undefined);

    // Fixing git makes it Ready.
    const rev = await fleet.commit({ "unknown/thing.yaml": null });
    await waitKs(env, ns, "unknown", "True", (k) => k.status?.lastAppliedRevision === rev);
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "beside-unknown"));
  });

  test("an impersonated ServiceAccount without rights is forbidden, naming the object", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await env.admin.create({ kind: "ServiceAccount", group: "", version: "v1", plural: "serviceaccounts", namespaced: true }, ns, { metadata: { name: "tenant" } });
    await fleet.commit({ "app/cm.yaml": configMap("tenant-cm", { a: "1" }, ns) });
    await createKustomization(env, ns, "tenant", { path: "./app", serviceAccountName: "tenant", retryInterval: "2s" });
    const ks = await waitKs(env, ns, "tenant", "False");
    assert.equal(cond(ks, "Ready")!.reason, "ReconciliationFailed");
    assert.match(cond(ks, "Ready")!.message, new RegExp(`ConfigMap/${ns}/tenant-cm dry-run failed: .*system:serviceaccount:${ns}:tenant.*forbidden|forbidden.*system:serviceaccount:${ns}:tenant`, "i"));
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "tenant-cm"), undefined);

    // Granting the ServiceAccount rights in its namespace lets the same Kustomization apply.
    const rbac = (kind: string, plural: string) => ({ kind, group: "rbac.authorization.k8s.io", version: "v1", plural, namespaced: true });
    await env.admin.create(rbac("Role", "roles"), ns, { metadata: { name: "tenant" }, rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["*"] }] });
    await env.admin.create(rbac("RoleBinding", "rolebindings"), ns, {
      metadata: { name: "tenant" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "tenant" },
      subjects: [{ kind: "ServiceAccount", name: "tenant", namespace: ns }],
    });
    await waitKs(env, ns, "tenant", "True", undefined, 60_000);
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "tenant-cm"));
  });

  test("a cross-namespace sourceRef is refused with --no-cross-namespace-refs (stalled)", async (t) => {
    const fleet = await newFleet(t, env, {});
    await createKustomization(env, fleet.ns, "cross", { path: "./", sourceRef: { kind: "GitRepository", name: "fleet", namespace: "elsewhere" } });
    const ks = await waitKs(env, fleet.ns, "cross", "False");
    assert.equal(cond(ks, "Ready")!.reason, "AccessDenied");
    assert.match(cond(ks, "Ready")!.message, /can't access 'GitRepository\/elsewhere\/fleet', cross-namespace references have been blocked/);
    assert.equal(cond(ks, "Stalled")?.status, "True");
  });
});
