// GitRepository on the real control plane, run with the source-controller's ServiceAccount, against
// real git servers (smart HTTP with basic auth, OpenSSH with a deploy key).
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { KubeClient, ApiError } from "../../../controllers/runtime/kube";
import { newNamespace, serviceAccountKubeconfig, waitFor } from "../../harness/cluster";
import { startHttpGitServer } from "../../fixtures/gitserver/http";
import {
  GitRepos,
  cond,
  createSecret,
  fetchArtifact,
  getRepo,
  gitCredentials,
  gitRepository,
  requestReconcile,
  startSourceEnv,
  waitReady,
  Secrets,
  type SourceEnv,
} from "./env";

function tarNames(bytes: Buffer): string[] {
  const file = path.join(fs.mkdtempSync("/tmp/mooring-it-"), "a.tgz");
  fs.writeFileSync(file, bytes);
  return execFileSync("tar", ["-tzf", file], { encoding: "utf8" }).trim().split("\n");
}

function tarFile(bytes: Buffer, name: string): string {
  const dir = fs.mkdtempSync("/tmp/mooring-it-");
  fs.writeFileSync(path.join(dir, "a.tgz"), bytes);
  return execFileSync("tar", ["-xzOf", path.join(dir, "a.tgz"), name], { encoding: "utf8" });
}

describe("GitRepository (source.toolkit.fluxcd.io/v1)", () => {
  let env: SourceEnv;
  let main1: string;

  before(async () => {
    env = await startSourceEnv();
    main1 = env.repo.commit({ "apps/app.yaml": "kind: ConfigMap\n", "README.md": "fleet\n", ".sourceignore": "docs/\n" }, "initial fleet");
  });
  after(async () => {
    await env?.stop();
  });

  test("the controller identity is least-privileged (not admin)", async () => {
    const sa = await serviceAccountKubeconfig({ namespace: env.controllerNamespace, name: "source-controller" });
    const client = new KubeClient(sa.kubeConfig);
    await assert.rejects(client.list({ kind: "Pod", group: "", version: "v1", plural: "pods", namespaced: true }), (e: ApiError) => e.status === 403);
    await assert.rejects(client.create(Secrets, env.controllerNamespace, { metadata: { name: "x" } }), (e: ApiError) => e.status === 403);
    await assert.rejects(client.delete(GitRepos, "default", "x"), (e: ApiError) => e.status === 403);
    const list = await client.list(GitRepos);
    assert.ok(Array.isArray(list.items));
  });

  test("smart HTTP with basic auth becomes Ready and serves an artifact matching its digest", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.httpUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" } }));
    const o = await waitReady(env.admin, ns, "fleet", "True");
    const art = o.status!.artifact!;
    assert.equal(art.revision, `main@sha1:${main1}`);
    assert.match(art.digest!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(cond(o, "ArtifactInStorage")?.status, "True");
    assert.equal(cond(o, "Ready")?.reason, "Succeeded");
    assert.ok(o.metadata.finalizers?.includes("finalizers.fluxcd.io"));
    const served = await fetchArtifact(art.url);
    assert.equal(served.status, 200);
    assert.equal(served.digest, art.digest);
    assert.equal(served.bytes!.length, art.size);
    const names = tarNames(served.bytes!);
    assert.ok(names.includes("apps/app.yaml"));
    assert.ok(!names.some((n) => n.startsWith(".git")), "no .git in the artifact");
    // An Event for the new artifact.
    await waitFor(async () => {
      const evs = await env.admin.list<{ reason: string; note: string; regarding: { name: string } }>({ kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true }, ns);
      return evs.items.some((e) => e.reason === "NewArtifact" && e.regarding.name === "fleet" && e.note.includes("initial fleet"));
    }, { what: "NewArtifact event" });
  });

  test("SSH with a deploy key and known_hosts becomes Ready", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "ssh-auth", { identity: env.deployKey.privateKey, known_hosts: env.ssh.knownHosts });
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.sshUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "ssh-auth" } }));
    const o = await waitReady(env.admin, ns, "fleet", "True");
    assert.equal(o.status!.artifact!.revision, `main@sha1:${main1}`);
    assert.equal((await fetchArtifact(o.status!.artifact!.url)).digest, o.status!.artifact!.digest);
  });

  test("a new commit gives a new revision and artifact file named after the commit; a change only in ignored files gives the same digest", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.httpUrl, interval: "10m", ref: { branch: "feature" }, secretRef: { name: "git-auth" }, ignore: "*.md\n" }));
    const c1 = env.repo.commit({ "apps/app.yaml": "kind: ConfigMap\n# feature\n" }, "feature 1", "feature");
    const first = await waitReady(env.admin, ns, "fleet", "True", (o) => o.status?.artifact?.revision === `feature@sha1:${c1}`);
    const a1 = first.status!.artifact!;
    const mark = env.logs.length;

    // Unchanged ref: ls-remote only, no fetch.
    let token = await requestReconcile(env.admin, ns, "fleet");
    const same = await waitReady(env.admin, ns, "fleet", "True", (o) => o.status?.lastHandledReconcileAt === token);
    assert.deepEqual(same.status!.artifact, a1);

    const c2 = env.repo.commit({ "apps/new.yaml": "kind: Secret\n" }, "feature 2", "feature");
    token = await requestReconcile(env.admin, ns, "fleet");
    const second = await waitReady(env.admin, ns, "fleet", "True", (o) => o.status?.lastHandledReconcileAt === token);
    const a2 = second.status!.artifact!;
    assert.equal(a2.revision, `feature@sha1:${c2}`);
    assert.notEqual(a2.digest, a1.digest);
    assert.notEqual(a2.path, a1.path);
    assert.ok(tarNames((await fetchArtifact(a2.url)).bytes!).includes("apps/new.yaml"));

    // Only ignored files change: .sourceignore'd docs/, spec.ignore'd *.md, a default-excluded *.png.
    const c3 = env.repo.commit({ "docs/guide.txt": "doc", "NOTES.md": "notes", "img/logo.png": "png" }, "docs only", "feature");
    token = await requestReconcile(env.admin, ns, "fleet");
    const third = await waitReady(env.admin, ns, "fleet", "True", (o) => o.status?.lastHandledReconcileAt === token);
    const a3 = third.status!.artifact!;
    assert.equal(a3.revision, `feature@sha1:${c3}`, "the revision follows the branch");
    assert.equal(a3.digest, a2.digest, "same tree, same digest");
    // One file per commit, as Flux stores them; the latest link points at the current one; the retention
    // (Flux's defaults: 2 records, 60 s) removed the oldest.
    assert.equal(a3.path, `gitrepository/${ns}/fleet/${c3}.tar.gz`);
    assert.equal(a2.path, `gitrepository/${ns}/fleet/${c2}.tar.gz`);
    const dir = path.join(env.storagePath, path.dirname(a3.path));
    assert.deepEqual(fs.readdirSync(dir).sort(), [`${c2}.tar.gz`, `${c3}.tar.gz`, "latest.tar.gz"].sort());
    assert.equal(fs.readlinkSync(path.join(dir, "latest.tar.gz")), `${c3}.tar.gz`);
    assert.equal((await fetchArtifact(a3.url.replace(/[^/]+$/, "latest.tar.gz"))).digest, a3.digest);
    const newArtifactLogs = env.logs.slice(mark).filter((l) => l.name === "fleet" && l.namespace === ns && (l.msg === "stored new artifact" || l.msg === "artifact up to date"));
    const timings = newArtifactLogs.map((l) => `${l.stored ? "new" : "unchanged"}${l.fetched ? "+fetch" : ""}:${l.ms}ms`);
    t.diagnostic(`reconcile timings: ${timings.join(", ")}`);
    assert.deepEqual(newArtifactLogs.map((l) => [l.fetched, l.stored]), [[false, false], [true, true], [true, true]]);
  });

  test("while a new revision is fetched: Reconciling=True (Progressing) and ArtifactOutdated=True (NewRevision)", async (t) => {
    const ns = await newNamespace(t);
    let fetchDelayMs = 0;
    const slow = await startHttpGitServer(env.repo.root, gitCredentials, { uploadPackDelayMs: (command) => (command === "fetch" ? fetchDelayMs : 0) });
    t.after(() => slow.close());
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    const c1 = env.repo.commit({ "p.txt": "1" }, "progress 1", "progress");
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: `${slow.url}/fleet.git`, interval: "10m", ref: { branch: "progress" }, secretRef: { name: "git-auth" } }));
    const first = await waitReady(env.admin, ns, "fleet", "True", (o) => o.status?.artifact?.revision === `progress@sha1:${c1}`);
    assert.equal(cond(first, "Reconciling"), undefined);
    assert.equal(cond(first, "ArtifactOutdated"), undefined);

    fetchDelayMs = 5_000;
    const c2 = env.repo.commit({ "p.txt": "2" }, "progress 2", "progress");
    await requestReconcile(env.admin, ns, "fleet");
    const working = await waitFor(async () => {
      const o = await getRepo(env.admin, ns, "fleet");
      return cond(o, "Reconciling")?.status === "True" && o;
    }, { what: "Reconciling=True during the slow fetch", timeoutMs: 15_000 });
    assert.equal(slow.held, 1, "the fetch is still held back");
    assert.equal(cond(working, "Reconciling")!.reason, "Progressing");
    assert.equal(cond(working, "Reconciling")!.message, `building artifact: new upstream revision 'progress@sha1:${c2}'`);
    assert.equal(cond(working, "Ready")!.status, "Unknown");
    assert.equal(cond(working, "ArtifactOutdated")!.status, "True");
    assert.equal(cond(working, "ArtifactOutdated")!.reason, "NewRevision");
    assert.equal(working.status!.artifact!.revision, `progress@sha1:${c1}`, "the old artifact is served meanwhile");

    const done = await waitReady(env.admin, ns, "fleet", "True", (o) => o.status?.artifact?.revision === `progress@sha1:${c2}`);
    assert.equal(cond(done, "Reconciling"), undefined);
    assert.equal(cond(done, "ArtifactOutdated"), undefined);
    assert.equal(cond(done, "Ready")!.reason, "Succeeded");
  });

  test("tags and semver ranges pick the right commit", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    const v100 = env.repo.commit({ "version.txt": "1.0.0" }, "release 1.0.0", "release");
    env.repo.tag("v1.0.0", "release");
    const v110 = env.repo.commit({ "version.txt": "1.1.0" }, "release 1.1.0", "release");
    env.repo.tag("v1.1.0", "release");
    env.repo.commit({ "version.txt": "2.0.0" }, "release 2.0.0", "release");
    env.repo.tag("v2.0.0", "release");
    const mk = (name: string, ref: Record<string, string>) => env.admin.create(GitRepos, ns, gitRepository(ns, name, { url: env.httpUrl, interval: "10m", ref, secretRef: { name: "git-auth" } }));
    await mk("by-tag", { tag: "v1.0.0" });
    await mk("by-semver", { semver: ">=1.0.0 <2.0.0", tag: "v2.0.0" });
    const byTag = await waitReady(env.admin, ns, "by-tag", "True");
    assert.equal(byTag.status!.artifact!.revision, `v1.0.0@sha1:${v100}`);
    const bySemver = await waitReady(env.admin, ns, "by-semver", "True");
    assert.equal(bySemver.status!.artifact!.revision, `v1.1.0@sha1:${v110}`);
    assert.equal(tarFile((await fetchArtifact(bySemver.status!.artifact!.url)).bytes!, "version.txt"), "1.1.0");
  });

  test("bad input gives Ready=False with a clear message while the last artifact stays served", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await createSecret(env.admin, ns, "no-password", { username: "fleet-bot" });
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.httpUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" } }));
    const good = (await waitReady(env.admin, ns, "fleet", "True")).status!.artifact!;

    const cases: { what: string; spec: Record<string, unknown>; reason: string; message: RegExp; stalled?: boolean }[] = [
      { what: "unknown branch", spec: { ref: { branch: "nope" } }, reason: "GitOperationFailed", message: /branch 'nope' not found/ },
      { what: "unknown tag", spec: { ref: { branch: null, tag: "v9.9.9" } }, reason: "GitOperationFailed", message: /tag 'v9\.9\.9' not found/ },
      { what: "no semver match", spec: { ref: { tag: null, semver: ">=5.0.0" } }, reason: "GitOperationFailed", message: /no tag matches semver range '>=5\.0\.0'/ },
      { what: "missing Secret", spec: { ref: { semver: null, branch: "main" }, secretRef: { name: "absent" } }, reason: "AuthenticationFailed", message: /secret '.*\/absent'.*not found/ },
      { what: "missing key", spec: { secretRef: { name: "no-password" } }, reason: "AuthenticationFailed", message: /'password' is missing/ },
      { what: "unreachable host", spec: { url: "http://127.0.0.1:9/fleet.git", secretRef: { name: "git-auth" } }, reason: "GitOperationFailed", message: /127\.0\.0\.1:9.*(refused|connect)/i },
      { what: "malformed URL", spec: { url: "http://exa mple.com/fleet.git" }, reason: "URLInvalid", message: /invalid URL/, stalled: true },
    ];
    for (const c of cases) {
      await env.admin.patch(GitRepos, ns, "fleet", { spec: c.spec });
      const o = await waitReady(env.admin, ns, "fleet", "False");
      const ready = cond(o, "Ready")!;
      assert.equal(ready.reason, c.reason, `${c.what}: reason`);
      assert.match(ready.message, c.message, `${c.what}: message`);
      assert.ok(!ready.message.includes(gitCredentials.password), `${c.what}: no secret in the message`);
      assert.equal(cond(o, "Stalled")?.status === "True", c.stalled === true, `${c.what}: stalled`);
      assert.deepEqual(o.status!.artifact, good, `${c.what}: artifact kept`);
      assert.equal((await fetchArtifact(good.url)).digest, good.digest, `${c.what}: artifact still served`);
    }

    // Wrong credentials: the Secret changes (no generation change), a reconcile is requested.
    await env.admin.patch(GitRepos, ns, "fleet", { spec: { url: env.httpUrl, ref: { branch: "main" }, secretRef: { name: "git-auth" } } });
    await waitReady(env.admin, ns, "fleet", "True");
    await env.admin.patch(Secrets, ns, "git-auth", { stringData: { password: "wrong-password" } });
    const token = await requestReconcile(env.admin, ns, "fleet");
    const denied = await waitReady(env.admin, ns, "fleet", "False", (o) => o.status?.lastHandledReconcileAt === token);
    assert.equal(cond(denied, "Ready")!.reason, "AuthenticationFailed");
    assert.match(cond(denied, "Ready")!.message, /authentication failed/);
    assert.ok(!cond(denied, "Ready")!.message.includes("wrong-password"));
    assert.equal((await fetchArtifact(good.url)).digest, good.digest);

    // Retries back off on their own: fixing the remote (not the object) recovers without any trigger.
    await env.admin.patch(Secrets, ns, "git-auth", { stringData: { password: gitCredentials.password } });
    await env.admin.patch(GitRepos, ns, "fleet", { spec: { ref: { branch: "later" } } });
    await waitReady(env.admin, ns, "fleet", "False");
    const later = env.repo.commit({ "later.txt": "x" }, "later", "later");
    const recovered = await waitReady(env.admin, ns, "fleet", "True", () => true, 90_000);
    assert.equal(recovered.status!.artifact!.revision, `later@sha1:${later}`);
  });

  test("include copies another GitRepository's artifact to toPath", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "shared", { url: env.httpUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" } }));
    await env.admin.create(GitRepos, ns, gitRepository(ns, "app", { url: env.sshUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "ssh-auth" }, include: [{ repository: { name: "shared" }, fromPath: "apps", toPath: "vendor/shared" }] }));
    await createSecret(env.admin, ns, "ssh-auth", { identity: env.deployKey.privateKey, known_hosts: env.ssh.knownHosts });
    const o = await waitReady(env.admin, ns, "app", "True", () => true, 90_000);
    const names = tarNames((await fetchArtifact(o.status!.artifact!.url)).bytes!);
    assert.ok(names.includes("vendor/shared/app.yaml"), names.join(","));
    assert.equal(o.status!.includedArtifacts?.length, 1);
  });

  test("suspend stops reconciles; deletion removes the artifacts and the finalizer", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.httpUrl, interval: "10m", ref: { branch: "suspend" }, secretRef: { name: "git-auth" } }));
    const s1 = env.repo.commit({ "s.txt": "1" }, "s1", "suspend");
    const o = await waitReady(env.admin, ns, "fleet", "True", (x) => x.status?.artifact?.revision === `suspend@sha1:${s1}`);
    await env.admin.patch(GitRepos, ns, "fleet", { spec: { suspend: true } });
    env.repo.commit({ "s.txt": "2" }, "s2", "suspend");
    await requestReconcile(env.admin, ns, "fleet");
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await getRepo(env.admin, ns, "fleet")).status!.artifact!.revision, `suspend@sha1:${s1}`);

    const art = o.status!.artifact!;
    await env.admin.delete(GitRepos, ns, "fleet");
    await waitFor(async () => {
      try {
        await getRepo(env.admin, ns, "fleet");
        return false;
      } catch (err) {
        return err instanceof ApiError && err.status === 404;
      }
    }, { what: "GitRepository deleted" });
    assert.equal((await fetchArtifact(art.url)).status, 404);
    assert.equal(fs.existsSync(path.join(env.storagePath, path.dirname(art.path))), false);
  });

  test("metrics and health endpoints answer", async () => {
    const { metrics, health } = env.controller.manager.addresses;
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    assert.match(text, /gotk_reconcile_duration_seconds_bucket\{[^}]*kind="GitRepository"/);
    assert.match(text, /controller_runtime_reconcile_total\{controller="gitrepository",result="requeue_after"\} [1-9]/);
    assert.match(text, /process_cpu_user_seconds_total/);
    assert.equal((await fetch(`http://${health}/healthz`)).status, 200);
    assert.equal((await fetch(`http://${health}/readyz`)).status, 200);
  });
});
