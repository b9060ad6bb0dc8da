// Sharding as Flux does it: controller processes started with --watch-label-selector split the GitRepositories
// and Kustomizations between them by the sharding.fluxcd.io/key label. Each shard reconciles only its own
// objects (and leaves a shard nobody runs alone), each shard elects its own leader on a lease of its own, and
// killing one shard's leader hands that shard to its standby without disturbing the other shard.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { KubeClient } from "../../../controllers/runtime/kube";
import { LeaseRef } from "../../../controllers/runtime/leader";
import { shardLeaseName } from "../../../controllers/runtime/manager";
import { ShardKeyLabel, kustomizeControllerRbac, type GitRepository, type Kustomization } from "../../../controllers/api";
import { newNamespace, serviceAccountKubeconfig, testKubeConfig, waitFor } from "../../harness/cluster";
import { TestRepo } from "../../fixtures/gitserver/repo";
import { startHttpGitServer } from "../../fixtures/gitserver/http";
import { apply, gitRepository, installCrds } from "../source/env";
import { ControllerProcess, tempDir, type ControllerIdentity } from "../source/process";
import { ConfigMaps, GitRepos, Kustomizations, configMap, kustomization } from "./env";

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}

const shard1 = `${ShardKeyLabel}=shard1`;
const unsharded = `!${ShardKeyLabel}`;
const baseLease = "mooring-controllers-leader-election";

/** CRDs, a controller namespace with the kustomize-controller's RBAC (it may read and write sources too), and its kubeconfig. */
async function shardIdentity(t: import("node:test").TestContext): Promise<ControllerIdentity> {
  const admin = new KubeClient(testKubeConfig());
  await installCrds(admin);
  const namespace = await newNamespace(t);
  for (const o of kustomizeControllerRbac(namespace)) await apply(admin, o);
  const sa = await serviceAccountKubeconfig({ namespace, name: "kustomize-controller" });
  t.after(() => fs.rmSync(path.dirname(sa.path), { recursive: true, force: true }));
  return { admin, namespace, kubeconfigPath: sa.path };
}

const reconciledNames = (p: ControllerProcess, ns: string): Set<string> =>
  new Set(p.logs.filter((l) => l.namespace === ns && typeof l.name === "string" && typeof l.controller === "string").map((l) => `${String(l.controller)}:${String(l.name)}`));

test("two shards split GitRepositories and Kustomizations by label; each shard has its own leader", { timeout: 300_000 }, async (t) => {
  const identity = await shardIdentity(t);
  const { admin } = identity;
  const ns = await newNamespace(t);
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  const apps = ["s1-a", "s1-b", "u-a", "u-b", "s2-a"];
  repo.commit(Object.fromEntries(apps.map((a) => [`${a}/cm.yaml`, configMap(a, { rev: "1" }, ns)])), "first");
  const git = await startHttpGitServer(repo.root);
  t.after(() => git.close());

  const leaseArgs = ["--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms"];
  const start = (name: string, selector: string) =>
    ControllerProcess.start(t, {
      identity,
      controllers: ["source", "kustomize"],
      storagePath: tempDir(t, `mooring-shard-${name}-storage-`),
      tmpDir: tempDir(t, `mooring-shard-${name}-tmp-`),
      leaderElect: true,
      extraArgs: [...leaseArgs, "--watch-label-selector", selector],
    });
  const [s1a, s1b, rest] = await Promise.all([start("s1a", shard1), start("s1b", shard1), start("rest", unsharded)]);
  const leader1 = await waitFor(() => [s1a, s1b].find((p) => p.has("controllers started")), { what: "a shard1 leader", timeoutMs: 90_000 });
  const standby1 = leader1 === s1a ? s1b : s1a;
  await rest.waitLog("controllers started", 90_000);
  await standby1.waitLog("caches synced");

  // Each shard holds a lease of its own, named after its selector.
  const lease1Name = shardLeaseName(baseLease, shard1);
  const leaseUName = shardLeaseName(baseLease, unsharded);
  assert.notEqual(lease1Name, leaseUName);
  const lease1 = await admin.get<Lease>(LeaseRef, identity.namespace, lease1Name);
  const leaseU = await admin.get<Lease>(LeaseRef, identity.namespace, leaseUName);
  assert.equal(lease1.spec.holderIdentity, leader1.logs.find((l) => l.msg === "acquired leader lease")?.identity);
  assert.equal(leaseU.spec.holderIdentity, rest.logs.find((l) => l.msg === "acquired leader lease")?.identity);

  const labelsOf = (app: string): Record<string, string> | undefined =>
    app.startsWith("s1-") ? { [ShardKeyLabel]: "shard1" } : app.startsWith("s2-") ? { [ShardKeyLabel]: "shard2" } : undefined;
  for (const app of apps) {
    const gr = gitRepository(ns, `${app}-repo`, { url: `${git.url}/fleet.git`, interval: "1h", ref: { branch: "main" } });
    gr.metadata.labels = labelsOf(app);
    await admin.create(GitRepos, ns, gr);
    const ks = kustomization(ns, app, { path: `./${app}`, sourceRef: { kind: "GitRepository", name: `${app}-repo` } });
    ks.metadata.labels = labelsOf(app);
    await admin.create(Kustomizations, ns, ks);
  }
  const readyKs = async (name: string, extra: (k: Kustomization) => boolean = () => true) =>
    waitFor(async () => {
      const k = await admin.get<Kustomization>(Kustomizations, ns, name);
      return k.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") && extra(k) ? k : undefined;
    }, { what: `Kustomization ${ns}/${name} Ready`, timeoutMs: 90_000, intervalMs: 200 });
  for (const app of ["s1-a", "s1-b", "u-a", "u-b"]) await readyKs(app);
  for (const app of ["s1-a", "s1-b", "u-a", "u-b"]) assert.ok(await admin.get(ConfigMaps, ns, app), `${app} applied`);

  // Who stored each artifact: its URL names the storage server of the process that reconciled it.
  for (const app of ["s1-a", "s1-b"]) {
    const gr = await admin.get<GitRepository>(GitRepos, ns, `${app}-repo`);
    assert.ok(gr.status!.artifact!.url.startsWith(`http://${leader1.storageAddr}/`), `${app}-repo stored by shard1's leader: ${gr.status!.artifact!.url}`);
  }
  for (const app of ["u-a", "u-b"]) {
    const gr = await admin.get<GitRepository>(GitRepos, ns, `${app}-repo`);
    assert.ok(gr.status!.artifact!.url.startsWith(`http://${rest.storageAddr}/`), `${app}-repo stored by the unsharded controllers: ${gr.status!.artifact!.url}`);
  }
  // Neither shard reconciles the other's objects; the standby reconciles nothing; shard2 (run by nobody) is untouched.
  const byLeader1 = reconciledNames(leader1, ns);
  const byRest = reconciledNames(rest, ns);
  assert.deepEqual([...byLeader1].filter((n) => !/:s1-/.test(n)), [], `shard1 logged only its own objects: ${[...byLeader1].join(", ")}`);
  assert.deepEqual([...byRest].filter((n) => !/:u-/.test(n)), [], `the unsharded controllers logged only unlabelled objects: ${[...byRest].join(", ")}`);
  assert.ok(byLeader1.has("kustomization:s1-a") && byLeader1.has("gitrepository:s1-a-repo"), [...byLeader1].join(", "));
  assert.equal(reconciledNames(standby1, ns).size, 0, "the standby reconciles nothing");
  const s2repo = await admin.get<GitRepository>(GitRepos, ns, "s2-a-repo");
  const s2ks = await admin.get<Kustomization>(Kustomizations, ns, "s2-a");
  assert.equal(s2repo.status?.conditions, undefined, "no process touched shard2's GitRepository");
  assert.equal(s2repo.metadata.finalizers, undefined);
  assert.equal(s2ks.status?.conditions, undefined, "no process touched shard2's Kustomization");
  await assert.rejects(admin.get(ConfigMaps, ns, "s2-a"), /not found/i);

  // shard1's leader dies: its standby takes over shard1 alone; the unsharded lease keeps its holder.
  await leader1.kill("SIGKILL");
  await standby1.waitLog("acquired leader lease", 30_000);
  const moved = await admin.get<Lease>(LeaseRef, identity.namespace, lease1Name);
  assert.equal(moved.spec.holderIdentity, standby1.logs.find((l) => l.msg === "acquired leader lease")?.identity);
  assert.equal((await admin.get<Lease>(LeaseRef, identity.namespace, leaseUName)).spec.holderIdentity, leaseU.spec.holderIdentity);
  const sha = repo.commit({ "s1-a/cm.yaml": configMap("s1-a", { rev: "2" }, ns) }, "second");
  await admin.patch(GitRepos, ns, "s1-a-repo", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `${Date.now()}` } } });
  await readyKs("s1-a", (k) => k.status?.lastAppliedRevision === `main@sha1:${sha}`);
  const cm = await admin.get<{ data?: Record<string, string> }>(ConfigMaps, ns, "s1-a");
  assert.equal(cm.data?.rev, "2", "the new leader of shard1 applied the new revision");
  const gr = await admin.get<GitRepository>(GitRepos, ns, "s1-a-repo");
  assert.ok(gr.status!.artifact!.url.startsWith(`http://${standby1.storageAddr}/`), "stored by the new leader");
  assert.deepEqual([...reconciledNames(standby1, ns)].filter((n) => !/:s1-/.test(n)), [], "the new leader reconciles only shard1");

  // Kustomizations go first, while their controllers still run (their finalizers need them).
  for (const app of apps) await admin.delete(Kustomizations, ns, app);
  await waitFor(async () => (await admin.list<Kustomization>(Kustomizations, ns)).items.every((k) => k.metadata.name === "s2-a"), { what: "sharded Kustomizations deleted", timeoutMs: 60_000, intervalMs: 200 });
});
