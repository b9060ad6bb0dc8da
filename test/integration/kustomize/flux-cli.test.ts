// Compatibility: the real flux CLI (2.7.5) and kubectl drive and read Mooring's kustomize-controller.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { toolPath } from "../../../local/tools";
import { ConfigMaps, Kustomizations, configMap, createKustomization, deployment, getOrUndefined, newFleet, startKustomizeEnv, waitKs, type KustomizeEnv } from "./env";
import type { Kustomization } from "../../../controllers/api";

const run = promisify(execFile);

describe("flux CLI and kubectl against the kustomize-controller", () => {
  let env: KustomizeEnv;
  let flux: string;
  let kubectl: string;
  const kubeEnv = () => ({ ...process.env, KUBECONFIG: env.kubeconfigPath });

  before(async () => {
    flux = await toolPath("flux");
    kubectl = await toolPath("kubectl");
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("flux get/reconcile --with-source/suspend/resume kustomization, kubectl get and wait", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const rev = await fleet.commit({ "apps/cm.yaml": configMap("one", { a: "1" }, ns) });
    await createKustomization(env, ns, "apps", { path: "./apps", interval: "1h" });

    const waited = await run(kubectl, ["wait", "--for=condition=Ready", "kustomization/apps", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(waited.stdout, /condition met/);
    const table = await run(kubectl, ["get", "kustomizations", "-n", ns], { env: kubeEnv() });
    assert.match(table.stdout, /NAME\s+AGE\s+READY\s+STATUS/);
    assert.match(table.stdout, new RegExp(`apps\\s+\\S+\\s+True\\s+Applied revision: ${rev}`));

    const got = await run(flux, ["get", "kustomizations", "-A"], { env: kubeEnv() });
    const row = got.stdout.split("\n").find((l) => l.startsWith(ns));
    assert.ok(row, got.stdout);
    // flux shortens revisions to 8 hex digits.
    const short = rev.slice(0, "main@sha1:".length + 8);
    assert.match(row, new RegExp(`apps\\s+${short}\\s+False\\s+True\\s+Applied revision: ${short}`));

    // A new commit is not fetched (interval 1h) until flux reconcile --with-source asks for it.
    fleet.repo.commit({ "apps/two.yaml": configMap("two", { a: "2" }, ns) }, "second");
    const reconciled = await run(flux, ["reconcile", "kustomization", "apps", "-n", ns, "--with-source", "--timeout=60s"], { env: kubeEnv() });
    const out = reconciled.stdout + reconciled.stderr;
    assert.match(out, /applied revision main@sha1:[0-9a-f]{40}/, out);
    const after1 = await env.admin.get<Kustomization>(Kustomizations, ns, "apps");
    assert.notEqual(after1.status!.lastAppliedRevision, rev);
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "two"), "the new commit was applied");
    assert.equal(after1.status!.lastHandledReconcileAt, after1.metadata.annotations!["reconcile.fluxcd.io/requestedAt"]);

    await run(flux, ["suspend", "kustomization", "apps", "-n", ns], { env: kubeEnv() });
    assert.equal((await env.admin.get<Kustomization>(Kustomizations, ns, "apps")).spec.suspend, true);
    const suspendedRow = (await run(flux, ["get", "kustomizations", "-n", ns], { env: kubeEnv() })).stdout.split("\n").find((l) => l.startsWith("apps"));
    assert.match(suspendedRow ?? "", /apps\s+\S+\s+True\s+/, "SUSPENDED column shows True");
    const third = await fleet.commit({ "apps/three.yaml": configMap("three", { a: "3" }, ns) });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "three"), undefined, "suspended: not applied");

    const resumed = await run(flux, ["resume", "kustomization", "apps", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(resumed.stdout + resumed.stderr, /applied revision/);
    const o = await waitKs(env, ns, "apps", "True", (k) => k.status?.lastAppliedRevision === third);
    assert.ok(!o.spec.suspend, "resumed");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "three"));
  });

  test("flux tree kustomization shows the inventory, nested Kustomizations included", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const child = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: child
  namespace: ${ns}
spec:
  interval: 1h
  path: ./child
  prune: true
  sourceRef:
    kind: GitRepository
    name: fleet
`;
    await fleet.commit({
      "root/cm.yaml": configMap("root-settings", { a: "1" }, ns),
      "root/web.yaml": deployment("web", ns, 0),
      "root/child.yaml": child,
      "child/cm.yaml": configMap("child-settings", { b: "2" }, ns),
    });
    await createKustomization(env, ns, "root", { path: "./root", interval: "1h" });
    await waitKs(env, ns, "root", "True");
    await waitKs(env, ns, "child", "True");

    const tree = await run(flux, ["tree", "kustomization", "root", "-n", ns], { env: kubeEnv() });
    const lines = tree.stdout.split("\n").filter((l) => l.trim());
    const at = (subject: string) => {
      const i = lines.findIndex((l) => l.endsWith(subject));
      assert.ok(i >= 0, `${subject} in:\n${tree.stdout}`);
      return { i, depth: lines[i]!.length - subject.length };
    };
    const root = at(`Kustomization/${ns}/root`);
    assert.equal(root.i, 0, tree.stdout);
    const cm = at(`ConfigMap/${ns}/root-settings`);
    const web = at(`Deployment/${ns}/web`);
    const kid = at(`Kustomization/${ns}/child`);
    const grandchild = at(`ConfigMap/${ns}/child-settings`);
    assert.ok(cm.depth > root.depth && web.depth === cm.depth && kid.depth === cm.depth, `root's inventory one level below it:\n${tree.stdout}`);
    assert.ok(grandchild.depth > kid.depth && grandchild.i > kid.i, `the child's inventory nested under it:\n${tree.stdout}`);
    assert.equal(lines.length, 5, tree.stdout);

    // The tree follows the inventory: an object removed from git leaves it.
    const rev = await fleet.commit({ "root/web.yaml": null });
    await waitKs(env, ns, "root", "True", (k) => k.status?.lastAppliedRevision === rev);
    const after2 = await run(flux, ["tree", "kustomization", "root", "-n", ns], { env: kubeEnv() });
    assert.doesNotMatch(after2.stdout, /Deployment\//, after2.stdout);
    assert.match(after2.stdout, new RegExp(`ConfigMap/${ns}/child-settings`));
    t.diagnostic(`flux tree: ${lines.join(" | ")}`);
  });
});
