// The source-controller as a real process: SIGKILL mid-fetch then restart, leader election between two
// processes, and graceful shutdown on SIGTERM — each checked against the cluster, the artifact server and
// the file system (storage directory and the process's TMPDIR).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import type { GitRepository } from "../../../controllers/api/source";
import { LeaseRef } from "../../../controllers/runtime/leader";
import { newNamespace, waitFor } from "../../harness/cluster";
import { TestRepo } from "../../fixtures/gitserver/repo";
import { startHttpGitServer } from "../../fixtures/gitserver/http";
import { GitRepos, fetchArtifact, gitRepository, waitReady } from "./env";
import { ControllerProcess, controllerIdentity, listTree, tempDir } from "./process";

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}
const leaseName = "source-controller-leader-election";

/**
 * A shard of this test's own: its processes watch only GitRepositories carrying the label, so objects other
 * tests left behind in the shared cluster (namespaces still terminating) never queue ahead of this test's.
 */
function shard(): { args: string[]; label: (repo: GitRepository) => GitRepository } {
  const value = randomBytes(6).toString("hex");
  return {
    args: [`--watch-label-selector=${shardKey}=${value}`],
    label: (repo) => ({ ...repo, metadata: { ...repo.metadata, labels: { ...repo.metadata.labels, [shardKey]: value } } }),
  };
}
const shardKey = "sharding.fluxcd.io/key";

test("SIGKILL during a fetch, then restart: Ready at the right revision, served digest matches, nothing stray in storage or TMPDIR", { timeout: 240_000 }, async (t) => {
  const identity = await controllerIdentity(t);
  const ns = await newNamespace(t);
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  repo.commit({ "apps/app.yaml": "kind: ConfigMap\n", "README.md": "v1\n" }, "first");
  let fetchDelayMs = 120_000;
  const git = await startHttpGitServer(repo.root, undefined, { uploadPackDelayMs: (command) => (command === "fetch" ? fetchDelayMs : 0) });
  t.after(() => git.close());
  const storagePath = tempDir(t, "mooring-proc-storage-");
  const tmp = tempDir(t, "mooring-proc-tmp-");

  const own = shard();
  const first = await ControllerProcess.start(t, { identity, storagePath, tmpDir: tmp, extraArgs: own.args });
  await first.waitLog("controllers started");
  await identity.admin.create(GitRepos, ns, own.label(gitRepository(ns, "fleet", { url: `${git.url}/fleet.git`, interval: "10m", ref: { branch: "main" } })));
  // The controller resolved the ref and is now inside `git fetch` (held by the server), with a checkout dir.
  await waitFor(() => git.held >= 1, { what: "a fetch held by the git server", timeoutMs: 60_000 });
  const midFetch = listTree(tmp);
  assert.ok(midFetch.some((f) => /mooring-src-/.test(f)), `a checkout dir exists mid-fetch: ${midFetch.join(", ")}`);
  assert.ok(midFetch.some((f) => /mooring-git-/.test(f)), `a git session dir exists mid-fetch: ${midFetch.join(", ")}`);
  await first.kill("SIGKILL");
  assert.equal((await first.exited).signal, "SIGKILL");
  // A partial archive a crash between write and rename would leave (the archive step is too quick to hit).
  const objDir = path.join(storagePath, "gitrepository", ns, "fleet");
  fs.mkdirSync(objDir, { recursive: true });
  fs.writeFileSync(path.join(objDir, ".tmp-0123456789abcdef"), "partial tarball");

  // While it was down the branch moved: the restarted controller must end on the new commit.
  const sha = repo.commit({ "apps/app.yaml": "kind: ConfigMap\nmetadata: {name: v2}\n" }, "second");
  fetchDelayMs = 0;
  const second = await ControllerProcess.start(t, { identity, storagePath, tmpDir: tmp, extraArgs: own.args });
  const ready = await second.explainFailure(waitReady(identity.admin, ns, "fleet", "True", (o) => o.status?.artifact?.revision === `main@sha1:${sha}`, 120_000));
  const artifact = ready.status!.artifact!;
  assert.ok(artifact.url.startsWith(`http://${second.storageAddr}/`), artifact.url);
  const served = await fetchArtifact(artifact.url);
  assert.equal(served.status, 200);
  assert.equal(served.digest, artifact.digest, "sha256 of the served file is status.artifact.digest");
  // The held request of the killed process is answered (or dropped) and no request is left open.
  await waitFor(() => git.inflight === 0 && git.held === 0, { what: "git server idle", timeoutMs: 30_000 });
  const latest = `${path.posix.dirname(artifact.path)}/latest.tar.gz`;
  assert.deepEqual(listTree(storagePath), [artifact.path, latest].sort(), "storage holds exactly the current artifact and the latest link");
  assert.equal(fs.readlinkSync(path.join(storagePath, latest)), path.posix.basename(artifact.path));
  const tmpEntries = listTree(tmp);
  assert.ok(tmpEntries.every((f) => /^mooring-source-[0-9a-f]{12}\/$/.test(f)), `TMPDIR holds only the (empty) scratch root: ${tmpEntries.join(", ")}`);
  assert.ok(second.logs.some((l) => l.msg === "artifact server listening" && l.strayTempFilesRemoved === 1), "the partial archive was removed at start-up");

  await second.kill("SIGTERM");
  const exit = await Promise.race([second.exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 15_000))]);
  assert.deepEqual(exit, { code: 0, signal: null }, "SIGTERM exits 0");
  assert.deepEqual(listTree(tmp), [], "nothing left in TMPDIR after a graceful stop");
});

test("leader election: one of two processes reconciles; killing it lets the other take over within the lease duration", { timeout: 240_000 }, async (t) => {
  const identity = await controllerIdentity(t);
  const ns = await newNamespace(t);
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  repo.commit({ "apps/app.yaml": "kind: ConfigMap\n" }, "first");
  const git = await startHttpGitServer(repo.root);
  t.after(() => git.close());
  const leaseMs = 4_000;
  const extraArgs = ["--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms"];
  const procs = [0, 1].map(async (i) =>
    ControllerProcess.start(t, { identity, storagePath: tempDir(t, `mooring-le-storage-${i}-`), tmpDir: tempDir(t, `mooring-le-tmp-${i}-`), leaderElect: true, extraArgs }),
  );
  const [a, b] = await Promise.all(procs);
  const leader = await waitFor(() => [a!, b!].find((p) => p.has("controllers started")), { what: "a leader", timeoutMs: 60_000 });
  const follower = leader === a ? b! : a!;
  await follower.waitLog("caches synced");
  const acquired = leader.logs.find((l) => l.msg === "acquired leader lease");
  const lease = await identity.admin.get<Lease>(LeaseRef, identity.namespace, leaseName);
  assert.equal(lease.spec.holderIdentity, acquired?.identity, "the Lease names the process that logged it acquired it");

  await identity.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: `${git.url}/fleet.git`, interval: "10m", ref: { branch: "main" } }));
  const ready = await waitReady(identity.admin, ns, "fleet", "True");
  assert.ok(ready.status!.artifact!.url.startsWith(`http://${leader.storageAddr}/`), "the leader's artifact server is advertised");
  const reconciled = (p: ControllerProcess) => p.logs.some((l) => l.msg === "stored new artifact" || l.msg === "artifact up to date");
  assert.ok(reconciled(leader), "the leader reconciled");
  assert.ok(!reconciled(follower) && !follower.has("controllers started") && !follower.has("acquired leader lease"), "the follower did not reconcile");

  const killedAt = Date.now();
  await leader.kill("SIGKILL");
  await follower.waitLog("acquired leader lease", 30_000);
  const takeoverMs = Date.now() - killedAt;
  t.diagnostic(`takeover after ${takeoverMs} ms (lease ${leaseMs} ms)`);
  // Lease duration, plus one retry period and scheduling slack on a busy machine.
  assert.ok(takeoverMs <= leaseMs + 500 + 3_000, `took over in ${takeoverMs} ms`);
  const after = await identity.admin.get<Lease>(LeaseRef, identity.namespace, leaseName);
  assert.equal(after.spec.holderIdentity, follower.logs.find((l) => l.msg === "acquired leader lease")?.identity);
  assert.equal(after.spec.leaseTransitions, (lease.spec.leaseTransitions ?? 0) + 1);
  // The new leader stores the artifact in its own storage and advertises its own server.
  const moved = await waitReady(identity.admin, ns, "fleet", "True", (o) => o.status?.artifact?.url.startsWith(`http://${follower.storageAddr}/`) ?? false, 60_000);
  assert.equal((await fetchArtifact(moved.status!.artifact!.url)).digest, moved.status!.artifact!.digest);

  await follower.kill("SIGTERM");
  const exit = await Promise.race([follower.exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 15_000))]);
  assert.deepEqual(exit, { code: 0, signal: null });
  const released = await identity.admin.get<Lease>(LeaseRef, identity.namespace, leaseName);
  assert.equal(released.spec.holderIdentity, "", "the Lease is released on SIGTERM");
});

test("SIGTERM during a fetch: exits 0 within seconds, releases the Lease, leaves no temp files", { timeout: 180_000 }, async (t) => {
  const identity = await controllerIdentity(t);
  const ns = await newNamespace(t);
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  repo.commit({ "apps/app.yaml": "kind: ConfigMap\n" }, "first");
  const git = await startHttpGitServer(repo.root, undefined, { uploadPackDelayMs: (command) => (command === "fetch" ? 120_000 : 0) });
  t.after(() => git.close());
  const storagePath = tempDir(t, "mooring-term-storage-");
  const tmp = tempDir(t, "mooring-term-tmp-");
  const p = await ControllerProcess.start(t, { identity, storagePath, tmpDir: tmp, leaderElect: true });
  await p.waitLog("controllers started");
  await identity.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: `${git.url}/fleet.git`, interval: "10m", ref: { branch: "main" } }));
  await waitFor(() => git.held >= 1, { what: "a fetch held by the git server", timeoutMs: 60_000 });
  assert.ok(listTree(tmp).some((f) => /mooring-src-/.test(f)), "a checkout is in progress");
  const sent = Date.now();
  await p.kill("SIGTERM");
  const exit = await Promise.race([p.exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000))]);
  assert.deepEqual(exit, { code: 0, signal: null }, "exit 0 within 10 s");
  t.diagnostic(`exited ${Date.now() - sent} ms after SIGTERM`);
  const lease = await identity.admin.get<Lease>(LeaseRef, identity.namespace, leaseName);
  assert.equal(lease.spec.holderIdentity, "", "the Lease is released");
  assert.deepEqual(listTree(tmp), [], "no temp files or checkout dirs left in TMPDIR");
  assert.ok(listTree(storagePath).every((f) => !path.basename(f).startsWith(".tmp-")), "no temp files in storage");
  assert.ok(p.has("released leader lease"));
});

test("--artifact-retention-ttl and --artifact-retention-records decide which superseded artifacts stay", { timeout: 120_000 }, async (t) => {
  const identity = await controllerIdentity(t);
  const ns = await newNamespace(t);
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  const git = await startHttpGitServer(repo.root);
  t.after(() => git.close());
  const storagePath = tempDir(t, "mooring-proc-storage-");
  const own = shard();
  const proc = await ControllerProcess.start(t, { identity, storagePath, tmpDir: tempDir(t, "mooring-proc-tmp-"), extraArgs: ["--artifact-retention-ttl=8s", "--artifact-retention-records=10", ...own.args] });
  await proc.waitLog("controllers started");
  const dir = path.join(storagePath, "gitrepository", ns, "fleet");
  const files = () => fs.readdirSync(dir).sort();
  const commitAndWait = async (n: number) => {
    const sha = repo.commit({ "n.txt": String(n) }, `commit ${n}`);
    await identity.admin.patch(GitRepos, ns, "fleet", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `r${n}` } } });
    await waitReady(identity.admin, ns, "fleet", "True", (o) => o.status?.artifact?.revision === `main@sha1:${sha}`);
    return sha;
  };
  const c1 = repo.commit({ "n.txt": "1" }, "commit 1");
  await identity.admin.create(GitRepos, ns, own.label(gitRepository(ns, "fleet", { url: `${git.url}/fleet.git`, interval: "10m", ref: { branch: "main" } })));
  await waitReady(identity.admin, ns, "fleet", "True", (o) => o.status?.artifact?.revision === `main@sha1:${c1}`);
  const c2 = await commitAndWait(2);
  // Within the TTL and under the record count: both commits are kept.
  assert.deepEqual(files(), [`${c1}.tar.gz`, `${c2}.tar.gz`, "latest.tar.gz"].sort());
  await new Promise((r) => setTimeout(r, 8_500));
  const c3 = await commitAndWait(3);
  // Past the TTL, superseded artifacts go, however many records are allowed.
  assert.deepEqual(files(), [`${c3}.tar.gz`, "latest.tar.gz"].sort());
});
