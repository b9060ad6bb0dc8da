// The Bootstrap component end to end over smart HTTP: the real Pulumi engine runs examples/local against
// the shared control plane; the controllers run as local processes with their ServiceAccounts' identity.
import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { basicAuth, startGitHttpServer } from "../fixtures/github/git-http";
import { TestRepo } from "../fixtures/gitserver/repo";
import { prepareStack } from "../../local/pulumi";
import { testKubeConfig, waitFor } from "../harness/cluster";
import { exists, gitLog, gitShow, localStack, pushCommit, seedFleet, testDir, upWithLocalControllers } from "./helpers";

const ns = "flux-system";

test("Bootstrap over smart HTTP: up to Ready, no-op, version change, day-2, concurrent push, lost state, destroy", { timeout: 1_800_000 }, async (t) => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  seedFleet(repo);
  // A hook that can move the branch under a pusher's feet (someone else pushing during `up`).
  let interlope: (() => void) | undefined;
  const server = await startGitHttpServer({
    root: repo.root,
    authorize: basicAuth("fleet", "s3cret-pass"),
    beforeReceivePack: () => {
      const f = interlope;
      interlope = undefined;
      f?.();
    },
  });
  t.after(() => server.close());
  const dir = await testDir("git");
  const stack = await localStack(t, "git", { gitUrl: `${server.url}/fleet.git`, gitUsername: "fleet", timeout: "4m" }, { gitPassword: "s3cret-pass" });
  const before = gitLog(repo.bare).length;

  await t.test("fresh up installs, commits and reaches Ready with the controllers running as their ServiceAccounts", async () => {
    const { seconds } = await upWithLocalControllers(t, stack, dir);
    t.diagnostic(`pulumi up, empty cluster → Ready: ${seconds.toFixed(1)} s`);
    const out = await stack.outputs();
    assert.equal(out.ready, true);
    assert.equal(out.repositoryUrl, `${server.url}/fleet.git`);
    assert.match(String(out.commit), /^[0-9a-f]{40}$/);
    assert.equal(out.revision, `main@sha1:${String(out.commit)}`);
    assert.ok(Number(out.inventoryCount) > 10, `inventory holds the install and the fleet (${String(out.inventoryCount)})`);
    assert.ok(Array.isArray(out.conditions) && (out.conditions as { type: string; status: string }[]).some((c) => c.type === "Ready" && c.status === "True"));
    assert.equal(gitLog(repo.bare).length, before + 1, "exactly one commit for the install");
    assert.match(gitShow(repo.bare, "clusters/local/flux-system/gotk-sync.yaml") ?? "", /path: \.\/clusters\/local/);
    const secret = await core.readNamespacedSecret({ name: "flux-system", namespace: ns });
    assert.equal(Buffer.from(secret.data?.username ?? "", "base64").toString(), "fleet");
    assert.equal(Buffer.from(secret.data?.password ?? "", "base64").toString(), "s3cret-pass");
    // The fleet itself converged: the app overlay's generated ConfigMap, patch and image pin.
    const podinfo = await waitFor(() => apps.readNamespacedDeployment({ name: "podinfo", namespace: "podinfo" }), { what: "podinfo Deployment", timeoutMs: 120_000 });
    assert.equal(podinfo.spec?.replicas, 2);
    assert.equal(podinfo.spec?.template.spec?.containers[0]?.image, "ghcr.io/mooring/demo-app:1.0.0");
  });

  await t.test("a second up changes nothing", async () => {
    const head = gitLog(repo.bare).length;
    const result = await stack.up(["--expect-no-changes"]);
    assert.match(result.stdout, /5 unchanged/);
    assert.equal(gitLog(repo.bare).length, head, "no commit");
  });

  await t.test("version and interval changes are exactly one new commit, and the controllers converge from git", async () => {
    const head = gitLog(repo.bare).length;
    await stack.config("version", "0.2.0");
    await stack.config("interval", "30s");
    const preview = await stack.preview();
    assert.match(preview.stdout, /2 to update/, "the files commit and the status wait; the install is not re-applied");
    await stack.up();
    assert.equal(gitLog(repo.bare).length, head + 1);
    const out = await stack.outputs();
    assert.equal(out.revision, `main@sha1:${String(out.commit)}`);
    const deployment = await apps.readNamespacedDeployment({ name: "source-controller", namespace: ns });
    assert.equal(deployment.metadata?.labels?.["app.kubernetes.io/version"], "v0.2.0", "kustomize-controller applied the new install from git");
    const gitRepository = (await custom.getNamespacedCustomObject({ group: "source.toolkit.fluxcd.io", version: "v1", plural: "gitrepositories", namespace: ns, name: "flux-system" })) as { spec: { interval: string } };
    assert.equal(gitRepository.spec.interval, "30s");
  });

  await t.test("a day-2 commit converges", async () => {
    const overlay = gitShow(repo.bare, "apps/overlays/local/kustomization.yaml")!;
    const started = Date.now();
    pushCommit(repo.bare, { "apps/overlays/local/kustomization.yaml": overlay.replace("hello from the local fleet", "day two") }, "Day 2: new message");
    await waitFor(
      async () => {
        const list = await core.listNamespacedConfigMap({ namespace: "podinfo" });
        return list.items.some((c) => c.metadata?.name?.startsWith("podinfo-config-") && c.data?.message === "day two");
      },
      { what: "the day-2 ConfigMap", timeoutMs: 240_000, intervalMs: 200 },
    );
    t.diagnostic(`commit → converged (interval 30s, no webhook): ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  await t.test("manual drift on a bootstrapped workload is reverted from git", async () => {
    const started = Date.now();
    await apps.patchNamespacedDeploymentScale(
      { name: "podinfo", namespace: "podinfo", body: { spec: { replicas: 5 } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await waitFor(
      async () => (await apps.readNamespacedDeployment({ name: "podinfo", namespace: "podinfo" })).spec?.replicas === 2,
      { what: "podinfo scaled back to the 2 replicas in git", timeoutMs: 60_000, intervalMs: 100 },
    );
    t.diagnostic(`kubectl-style scale 2 → 5 reverted in ${((Date.now() - started) / 1000).toFixed(2)} s`);
  });

  await t.test("a commit pushed by someone else during up does not fail the up", async () => {
    await stack.config("version", "0.3.0");
    interlope = () => pushCommit(repo.bare, { "NOTES.md": "pushed while pulumi was pushing\n" }, "Someone else");
    await stack.up();
    assert.equal(interlope, undefined, "the other push happened");
    const log = gitLog(repo.bare);
    assert.ok(log.some((l) => l.endsWith("Someone else")));
    assert.match(gitShow(repo.bare, "clusters/local/flux-system/gotk-components.yaml") ?? "", /v0\.3\.0/);
    assert.equal((await stack.outputs()).ready, true);
  });

  await t.test("lost Pulumi state: up adopts the install and touches no workload", async () => {
    const podinfo = await apps.readNamespacedDeployment({ name: "podinfo", namespace: "podinfo" });
    const nsUid = (await core.readNamespace({ name: ns })).metadata?.uid;
    const head = gitLog(repo.bare).length;
    await fs.rm(path.join(stack.ws.stateDir, "backend", ".pulumi", "stacks"), { recursive: true, force: true });
    await prepareStack(stack.ws);
    await stack.up();
    assert.equal(gitLog(repo.bare).length, head, "the branch already holds the files: no commit");
    assert.equal((await core.readNamespace({ name: ns })).metadata?.uid, nsUid, "flux-system was not recreated");
    const after = await apps.readNamespacedDeployment({ name: "podinfo", namespace: "podinfo" });
    assert.equal(after.metadata?.uid, podinfo.metadata?.uid);
    assert.equal((await stack.outputs()).ready, true);
  });

  await t.test("destroy uninstalls the controllers and CRDs, keeps the workloads, removes the files from git", async () => {
    const podinfo = await apps.readNamespacedDeployment({ name: "podinfo", namespace: "podinfo" });
    await stack.destroy();
    for (const name of ["gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"]) {
      assert.equal(await exists(() => ext.readCustomResourceDefinition({ name })), false, `${name} removed`);
    }
    for (const name of ["source-controller", "kustomize-controller"]) {
      assert.equal(await exists(() => apps.readNamespacedDeployment({ name, namespace: ns })), false, `${name} removed`);
    }
    assert.equal(await exists(() => core.readNamespacedSecret({ name: "flux-system", namespace: ns })), false, "credentials removed");
    // Give a (wrongly) pruning controller time to act before checking nothing was pruned.
    await new Promise((r) => setTimeout(r, 3000));
    const after = await apps.readNamespacedDeployment({ name: "podinfo", namespace: "podinfo" });
    assert.equal(after.metadata?.uid, podinfo.metadata?.uid, "the workload is untouched");
    assert.equal(after.metadata?.deletionTimestamp, undefined);
    assert.equal(gitShow(repo.bare, "clusters/local/flux-system/gotk-components.yaml"), undefined, "install files removed from git");
    assert.notEqual(gitShow(repo.bare, "apps/overlays/local/kustomization.yaml"), undefined, "the fleet stays in git");
    await core.deleteNamespace({ name: "podinfo" });
  });
});
