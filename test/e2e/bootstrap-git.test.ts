// The Bootstrap component end to end over smart HTTP on the real node: the real Pulumi engine runs
// examples/local against the shared cluster, the controllers run as pods from the image built offline (under
// their own ServiceAccounts), the example fleet's app runs as pods, and the real flux CLI reads it all.
import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { basicAuth, startGitHttpServer } from "../fixtures/github/git-http";
import { TestRepo } from "../fixtures/gitserver/repo";
import { prepareStack } from "../../local/pulumi";
import { defaultControllersRef } from "../../local/image";
import { testKubeConfig, waitFor } from "../harness/cluster";
import { exists, gitLog, gitShow, localStack, pushCommit, seedFleet } from "./helpers";
import { controllerPods, ctr, flux, kubectl, latestReleaseStandIn, leaseHolder, mib, podReady, realNodeTarget, startToReadySeconds, workingSets } from "./pods";

const ns = "flux-system";
const controllers = ["source-controller", "kustomize-controller"];

test("Bootstrap over smart HTTP on the real node: pods Ready, fleet Running, day-2, drift, failover, SIGKILL, flux CLI, lost state, destroy", { timeout: 1_800_000 }, async (t) => {
  const node = await realNodeTarget();
  if (typeof node === "string") {
    t.skip(node);
    return;
  }
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
  // Bound on the node address, so source-controller's pod clones from it.
  const server = await startGitHttpServer({
    host: node.nodeAddress,
    root: repo.root,
    authorize: basicAuth("fleet", "s3cret-pass"),
    beforeReceivePack: () => {
      const f = interlope;
      interlope = undefined;
      f?.();
    },
  });
  t.after(() => server.close());
  const stack = await localStack(t, "git", { gitUrl: `${server.url}/fleet.git`, gitUsername: "fleet", timeout: "4m" }, { gitPassword: "s3cret-pass" });
  const before = gitLog(repo.bare).length;
  const kustomization = async (name: string) =>
    (await custom.getNamespacedCustomObject({ group: "kustomize.toolkit.fluxcd.io", version: "v1", plural: "kustomizations", namespace: ns, name })) as {
      status?: { lastAppliedRevision?: string; conditions?: { type: string; status: string; reason: string }[] };
    };
  const appsReadyAt = async (revision: string) => {
    const k = await kustomization("apps");
    return k.status?.lastAppliedRevision === revision && (k.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
  };
  const podinfoMessage = async () => {
    const list = await core.listNamespacedConfigMap({ namespace: "podinfo" });
    const deployment = await apps.readNamespacedDeployment({ name: "podinfo", namespace: "podinfo" });
    const ref = deployment.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === "UI_MESSAGE")?.valueFrom?.configMapKeyRef?.name;
    return list.items.find((c) => c.metadata?.name === ref)?.data?.message;
  };
  const logMemory = async (when: string) => {
    const sets = await workingSets(node.name, ns);
    const parts = [...sets.entries()].map(([k, v]) => `${k} ${mib(v)}`);
    t.diagnostic(`controller memory (cgroup working set, kubelet /stats/summary), ${when}: ${parts.join(", ")}`);
    return sets;
  };

  await t.test("fresh up installs, commits and reaches Ready with the controllers running as pods under their ServiceAccounts", async () => {
    const started = Date.now();
    await stack.up();
    t.diagnostic(`pulumi up, empty cluster → Ready (controllers as pods): ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
    for (const name of controllers) {
      const pods = await controllerPods(core, ns, name);
      assert.equal(pods.length, 1, `one ${name} pod`);
      assert.equal(pods[0]!.spec?.serviceAccountName, name, `${name} runs as its own ServiceAccount`);
      assert.equal(pods[0]!.spec?.nodeName, node.name, `${name} runs on the real node`);
      // up returns once the sync Kustomization is Ready, i.e. the controllers already work; the pod's Ready
      // condition follows at the kubelet's next readiness probe (every 10 s, the Kubernetes default).
      const pod = await waitFor(
        async () => {
          const now = await controllerPods(core, ns, name);
          return now.length === 1 && podReady(now[0]!) ? now[0] : undefined;
        },
        { what: `${name} pod Running and Ready`, timeoutMs: 30_000, intervalMs: 250 },
      );
      assert.equal(pod.spec?.containers[0]?.image, defaultControllersRef(), "the image the builder tagged and up imported");
      assert.equal(pod.status?.containerStatuses?.[0]?.restartCount, 0, `${name} never restarted`);
      t.diagnostic(`${name}: container start → Ready ${startToReadySeconds(pod)} s (API timestamps, whole seconds)`);
    }
    await logMemory("idle after install");
    // The fleet itself converged and runs: the app overlay's generated ConfigMap, patch and image pin.
    const podinfo = await waitFor(() => apps.readNamespacedDeployment({ name: "podinfo", namespace: "podinfo" }), { what: "podinfo Deployment", timeoutMs: 120_000 });
    assert.equal(podinfo.spec?.replicas, 2);
    assert.equal(podinfo.spec?.template.spec?.containers[0]?.image, "ghcr.io/mooring/demo-app:1.0.0");
    const running = await waitFor(
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: "podinfo", labelSelector: "app=podinfo" })).items.filter((p) => !p.metadata?.deletionTimestamp);
        return pods.length === 2 && pods.every(podReady) ? pods : undefined;
      },
      { what: "2 podinfo pods Running and Ready", timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.ok(running.every((p) => p.spec?.nodeName === node.name));
    await logMemory("after the example fleet");
  });
  await t.test("a second up changes nothing", async () => {
    const head = gitLog(repo.bare).length;
    const result = await stack.up(["--expect-no-changes"]);
    // Stack, component, kubernetes Provider, Namespace, credentials Secret, GitFiles, ClusterInstall, SyncStatus.
    assert.match(result.stdout, /\b8 unchanged\b/);
    assert.equal(gitLog(repo.bare).length, head, "no commit");
  });

  /** Tag the controllers image on the node for another Mooring version (what a release would publish). */
  const imageForVersion = async (version: string) => {
    const ref = defaultControllersRef(`v${version}`);
    await ctr(["images", "rm", ref]).catch(() => undefined);
    await ctr(["images", "tag", defaultControllersRef(), ref]);
    return ref;
  };
  /** Wait until every pod of each controller runs image and is Ready (a rollout finished). */
  const controllersRunning = (image: string, replicas: Record<string, number> = {}) =>
    waitFor(
      async () => {
        for (const name of controllers) {
          const pods = await controllerPods(core, ns, name);
          if (pods.length !== (replicas[name] ?? 1) || !pods.every((p) => podReady(p) && p.spec?.containers[0]?.image === image)) return false;
        }
        return true;
      },
      { what: `the controllers' pods Ready with ${image}`, timeoutMs: 180_000, intervalMs: 500 },
    );
  const requestFetch = () =>
    custom.patchNamespacedCustomObject(
      { group: "source.toolkit.fluxcd.io", version: "v1", plural: "gitrepositories", namespace: ns, name: "flux-system", body: { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": new Date().toISOString() } } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
  const pushMessage = (message: string, title: string) => {
    const overlay = gitShow(repo.bare, "apps/overlays/local/kustomization.yaml")!;
    return pushCommit(repo.bare, { "apps/overlays/local/kustomization.yaml": overlay.replace(/message=.*/, `message=${message}`) }, title);
  };

  await t.test("version and interval changes are exactly one new commit, and the controllers converge from git", async () => {
    const head = gitLog(repo.bare).length;
    const image = await imageForVersion("0.2.0");
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
    await controllersRunning(image);
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

  // Before the failover steps: with two kustomize-controller replicas `flux logs` reads one pod per Deployment
  // (the one with the most restarts), which may be the standby with no reconcile lines.
  await t.test("the flux CLI: check passes, logs shows the controllers' logs, get all lists everything", async () => {
    const versionOut = await flux(["--version"]);
    const fluxVersion = /(\d+\.\d+\.\d+)/.exec(versionOut.stdout)?.[1];
    assert.ok(fluxVersion, `flux --version: ${versionOut.stdout}`);
    const standIn = await latestReleaseStandIn(fluxVersion, new URL(kc.getCurrentCluster()!.server).hostname);
    try {
      const check = await flux(["check"], standIn.env);
      const text = check.stdout + check.stderr;
      assert.equal(check.code, 0, `flux check failed:\n${text}`);
      assert.match(text, /all checks passed/i);
      for (const name of ["gitrepositories.source.toolkit.fluxcd.io/v1", "kustomizations.kustomize.toolkit.fluxcd.io/v1", defaultControllersRef("v0.2.0")]) assert.ok(text.includes(name), `flux check lists ${name}:\n${text}`);
      t.diagnostic(`flux check:\n${text.trim()}`);
    } finally {
      await standIn.close();
    }
    const logs = await flux(["logs", "--all-namespaces"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /Kustomization\/apps\.flux-system - /i, "kustomize-controller's reconcile lines, read by flux logs");
    assert.match(logs.stdout, /GitRepository\/flux-system\.flux-system - /i, "source-controller's reconcile lines");
    const filtered = await flux(["logs", "--kind", "Kustomization", "--name", "apps"]);
    assert.ok(filtered.stdout.trim().split("\n").every((l) => l.toLowerCase().includes("kustomization/apps.flux-system")), filtered.stdout);
    const all = await flux(["get", "all", "-A"]);
    assert.equal(all.code, 0, all.stderr);
    for (const name of ["gitrepository/flux-system", "kustomization/flux-system", "kustomization/infrastructure", "kustomization/apps"]) assert.ok(all.stdout.includes(name), `flux get all -A lists ${name}:\n${all.stdout}`);
  });

  await t.test("kustomize-controller with 2 replicas: deleting the leader's pod hands over, and a commit pushed meanwhile is applied", async () => {
    const image = defaultControllersRef("v0.2.0");
    await stack.config("replicas", JSON.stringify({ kustomize: 2 }));
    await stack.up();
    await controllersRunning(image, { "kustomize-controller": 2 });
    const pods = await controllerPods(core, ns, "kustomize-controller");
    const names = pods.map((p) => p.metadata!.name!);
    const holder = await waitFor(
      async () => {
        const h = await leaseHolder(kc, ns, "kustomize-controller-leader-election");
        return h && names.some((n) => h.startsWith(`${n}_`)) ? h : undefined;
      },
      { what: "a kustomize-controller pod holding the leader Lease", timeoutMs: 120_000, intervalMs: 200 },
    );
    const leader = holder.slice(0, holder.indexOf("_"));
    const started = Date.now();
    await kubectl(["-n", ns, "delete", "pod", leader, "--wait=false"]);
    const sha = pushMessage("pushed during failover", "Day 2: pushed while the leader goes");
    await requestFetch();
    const next = await waitFor(
      async () => {
        const h = await leaseHolder(kc, ns, "kustomize-controller-leader-election");
        return h && !h.startsWith(`${leader}_`) ? h : undefined;
      },
      { what: "another pod taking the leader Lease", timeoutMs: 120_000, intervalMs: 100 },
    );
    const failover = (Date.now() - started) / 1000;
    await waitFor(async () => (await podinfoMessage()) === "pushed during failover" && (await appsReadyAt(`main@sha1:${sha}`)), {
      what: "the commit pushed during failover applied and apps Ready at it",
      timeoutMs: 180_000,
      intervalMs: 200,
    });
    t.diagnostic(`leader failover (kubectl delete pod ${leader}, graceful): ${failover.toFixed(1)} s to ${next.slice(0, next.indexOf("_"))}; the commit pushed meanwhile applied ${((Date.now() - started) / 1000).toFixed(1)} s after the delete`);
  });

  await t.test("SIGKILL of the leader's container while it applies is followed by a correct reconcile", async () => {
    const holder = await leaseHolder(kc, ns, "kustomize-controller-leader-election");
    assert.ok(holder, "a leader");
    const leader = holder.slice(0, holder.indexOf("_"));
    const pod = await core.readNamespacedPod({ name: leader, namespace: ns });
    const containerId = pod.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, "");
    assert.ok(containerId, "the leader's container id");
    const sha = pushMessage("after a SIGKILL", "Day 2: applied across a SIGKILL");
    await requestFetch();
    // The new ConfigMap rolls the Deployment and `wait: true` holds the reconcile in its health check.
    await waitFor(
      async () => {
        const k = await kustomization("apps");
        return (k.status?.conditions ?? []).some((c) => c.type === "Reconciling" && c.status === "True" && (c as { message?: string }).message?.includes(sha.slice(0, 12)));
      },
      { what: `apps reconciling revision ${sha.slice(0, 12)}`, timeoutMs: 120_000, intervalMs: 50 },
    );
    await ctr(["tasks", "kill", "--signal", "SIGKILL", containerId]);
    const started = Date.now();
    await waitFor(async () => (await podinfoMessage()) === "after a SIGKILL" && (await appsReadyAt(`main@sha1:${sha}`)), {
      what: "apps Ready at the revision whose apply was killed",
      timeoutMs: 240_000,
      intervalMs: 200,
    });
    t.diagnostic(`SIGKILL mid-apply → apps Ready at the new revision in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Correct: one generated ConfigMap (the older ones pruned), the app's 2 pods Ready with it.
    await waitFor(
      async () => {
        const cms = (await core.listNamespacedConfigMap({ namespace: "podinfo" })).items.filter((c) => c.metadata?.name?.startsWith("podinfo-config-"));
        const pods = (await core.listNamespacedPod({ namespace: "podinfo", labelSelector: "app=podinfo" })).items.filter((p) => !p.metadata?.deletionTimestamp);
        return cms.length === 1 && cms[0]!.data?.message === "after a SIGKILL" && pods.length === 2 && pods.every(podReady);
      },
      { what: "one podinfo ConfigMap (older ones pruned) and 2 Ready pods", timeoutMs: 120_000, intervalMs: 500 },
    );
    const restarted = await core.readNamespacedPod({ name: leader, namespace: ns }).catch(() => undefined);
    t.diagnostic(`killed container's pod ${leader}: restarts ${restarted?.status?.containerStatuses?.[0]?.restartCount ?? "gone"}`);
  });

  await t.test("a commit pushed by someone else during up does not fail the up", async () => {
    const image = await imageForVersion("0.3.0");
    await stack.config("version", "0.3.0");
    interlope = () => pushCommit(repo.bare, { "NOTES.md": "pushed while pulumi was pushing\n" }, "Someone else");
    await stack.up();
    assert.equal(interlope, undefined, "the other push happened");
    const log = gitLog(repo.bare);
    assert.ok(log.some((l) => l.endsWith("Someone else")));
    assert.match(gitShow(repo.bare, "clusters/local/flux-system/gotk-components.yaml") ?? "", /v0\.3\.0/);
    assert.equal((await stack.outputs()).ready, true);
    await controllersRunning(image, { "kustomize-controller": 2 });
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
    // An object of another served kind that holds its controller's finalizer: the uninstall must not wait on it.
    await custom.createNamespacedCustomObject({
      group: "source.toolkit.fluxcd.io",
      version: "v1",
      plural: "helmrepositories",
      namespace: ns,
      body: { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "HelmRepository", metadata: { name: "charts" }, spec: { url: "http://127.0.0.1:9/charts", interval: "10m" } },
    });
    await waitFor(
      async () => {
        const hr = (await custom.getNamespacedCustomObject({ group: "source.toolkit.fluxcd.io", version: "v1", plural: "helmrepositories", namespace: ns, name: "charts" })) as { metadata?: { finalizers?: string[] } };
        return (hr.metadata?.finalizers ?? []).length > 0;
      },
      { what: "the HelmRepository carries source-controller's finalizer", timeoutMs: 60_000, intervalMs: 250 },
    );
    await stack.destroy();
    for (const name of ["gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io"]) {
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
