// The GitHub adapter against the loopback GitHub stand-in (REST shapes from GitHub's docs, real git
// smart HTTP behind it): find or create the repository, register the deploy key, commit.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { GitHubHost } from "../../../bootstrap/hosts/github";
import { commitToBranch } from "../../../bootstrap/git/repository";
import { generateDeployKey } from "../../../bootstrap/ssh/keys";
import { isBootstrapError } from "../../../bootstrap/errors";
import { startFakeGitHub, type FakeGitHub } from "../../fixtures/github/server";

const token = "ghp_fakeTokenForMooringTests0000000001";

describe("GitHubHost", () => {
  let github: FakeGitHub;
  let host: GitHubHost;
  before(async () => {
    github = await startFakeGitHub({ tokens: { [token]: "octocat" }, orgs: { acme: { members: ["octocat"] }, other: { members: [] } } });
    host = new GitHubHost({ token, baseUrl: github.apiUrl });
  });
  after(() => github.close());

  it("creates a private repository for the user, then adopts it", async () => {
    const created = await host.ensureRepository({ owner: "octocat", name: "fleet" });
    assert.equal(created.created, true);
    assert.equal(created.private, true);
    assert.equal(created.httpsUrl, `${github.url}/octocat/fleet.git`);
    assert.equal(created.sshUrl, "ssh://git@127.0.0.1/octocat/fleet.git");
    const post = github.requests.find((r) => r.method === "POST");
    assert.deepEqual({ path: post?.path, private: (post?.body as { private: boolean }).private }, { path: "/user/repos", private: true });

    const again = await host.ensureRepository({ owner: "octocat", name: "fleet" });
    assert.equal(again.created, false);
    assert.equal(github.requests.filter((r) => r.method === "POST").length, 1, "not created twice");
  });

  it("creates in an organization, public when asked", async () => {
    const repo = await host.ensureRepository({ owner: "acme", name: "platform", private: false });
    assert.deepEqual([repo.owner, repo.created, repo.private], ["acme", true, false]);
    assert.ok(github.requests.some((r) => r.method === "POST" && r.path === "/orgs/acme/repos"));
  });

  it("explains a missing repository when creation is off, and an organization it cannot create in", async () => {
    await assert.rejects(host.ensureRepository({ owner: "acme", name: "missing", createRepository: false }), (e) => {
      assert.ok(isBootstrapError(e, "RepositoryNotFound"));
      assert.equal(e.message, "github: repository acme/missing not found and createRepository is false; create it or set createRepository");
      return true;
    });
    await assert.rejects(host.ensureRepository({ owner: "other", name: "x" }), (e) => isBootstrapError(e, "RepositoryCreateFailed") && /organization other/.test(e.message));
  });

  it("adopts a repository created elsewhere, and reports GitHub's 422 validation errors with their message", async () => {
    github.addRepository("octocat", "seeded");
    const adopted = await host.ensureRepository({ owner: "octocat", name: "seeded", personal: true });
    assert.equal(adopted.created, false);
    await assert.rejects(host.ensureDeployKey({ owner: "octocat", name: "fleet" }, { title: "bad", publicKey: "ssh-ed25519 !!!notbase64" }), (e) => {
      assert.ok(isBootstrapError(e, "DeployKeyFailed"));
      assert.match(e.message, /422 Validation Failed: key is invalid/);
      return true;
    });
  });

  it("rejects a bad token with HostAuthFailed and never prints it", async () => {
    const bad = new GitHubHost({ token: "ghp_wrongwrongwrong", baseUrl: github.apiUrl });
    await assert.rejects(bad.ensureRepository({ owner: "octocat", name: "fleet" }), (e) => {
      assert.ok(isBootstrapError(e, "HostAuthFailed"), String(e));
      assert.match(e.message, /401 Bad credentials/);
      assert.ok(!e.message.includes("ghp_wrongwrongwrong"));
      return true;
    });
  });

  it("adds a read-only deploy key, adopts it, rotates it, removes it", async () => {
    const repo = { owner: "octocat", name: "fleet" };
    const first = generateDeployKey("mooring@flux-system");
    const added = await host.ensureDeployKey(repo, { title: "mooring-flux-system", publicKey: first.publicKey });
    assert.equal(added.action, "created");
    assert.equal(added.key.readOnly, true);
    assert.deepEqual(github.deployKeys("octocat", "fleet").map((k) => [k.title, k.key, k.read_only]), [["mooring-flux-system", first.publicKey.split(" ").slice(0, 2).join(" "), true]]);

    const adopted = await host.ensureDeployKey(repo, { title: "mooring-flux-system", publicKey: first.publicKey });
    assert.deepEqual([adopted.action, adopted.key.id], ["adopted", added.key.id]);
    assert.equal(github.deployKeys("octocat", "fleet").length, 1, "no duplicate key");

    const second = generateDeployKey("mooring@flux-system");
    const rotated = await host.ensureDeployKey(repo, { title: "mooring-flux-system", publicKey: second.publicKey });
    assert.equal(rotated.action, "rotated");
    assert.deepEqual(rotated.removed, [added.key.id]);
    assert.deepEqual(github.deployKeys("octocat", "fleet").map((k) => k.key), [second.publicKey.split(" ").slice(0, 2).join(" ")]);

    const writable = await host.ensureDeployKey(repo, { title: "mooring-flux-system", publicKey: second.publicKey, write: true });
    assert.equal(writable.key.readOnly, false);
    assert.deepEqual(github.deployKeys("octocat", "fleet").map((k) => k.read_only), [false]);

    assert.deepEqual(await host.removeDeployKey(repo, { title: "mooring-flux-system" }), [writable.key.id]);
    assert.deepEqual(github.deployKeys("octocat", "fleet"), []);
    assert.deepEqual(await host.removeDeployKey(repo, { title: "mooring-flux-system" }), [], "removing twice is fine");
    assert.deepEqual(await host.removeDeployKey({ owner: "octocat", name: "gone" }, { title: "x" }), [], "a deleted repository has no key");
  });

  it("runs the whole flow: find-or-create → deploy key → commit over the host's git", async () => {
    const repo = await host.ensureRepository({ owner: "acme", name: "fleet" });
    const key = generateDeployKey("mooring@flux-system");
    await host.ensureDeployKey(repo, { title: "mooring", publicKey: key.publicKey });
    const author = { name: "Mooring", email: "mooring@example.test" };
    const files = { "clusters/dev/flux-system/gotk-sync.yaml": "kind: GitRepository\n" };
    const first = await commitToBranch({ url: repo.httpsUrl, branch: "main", credentials: host.pushCredentials(), author, message: "bootstrap", change: { write: files } });
    assert.equal(first.changed, true);
    const second = await commitToBranch({ url: repo.httpsUrl, branch: "main", credentials: host.pushCredentials(), author, message: "bootstrap", change: { write: files } });
    assert.deepEqual([second.changed, second.commit], [false, first.commit]);
    const bare = join(github.gitRoot, "acme/fleet.git");
    assert.equal(execFileSync("git", ["--git-dir", bare, "show", "main:clusters/dev/flux-system/gotk-sync.yaml"], { encoding: "utf8" }), "kind: GitRepository\n");
    await assert.rejects(
      commitToBranch({ url: repo.httpsUrl, branch: "main", credentials: { kind: "basic", username: "x", password: "not-a-token" }, author, message: "x", change: { write: { a: "b" } } }),
      (e) => isBootstrapError(e, "GitAuthFailed") && !e.message.includes("not-a-token"),
    );
  });
});
