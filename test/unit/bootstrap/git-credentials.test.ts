import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { gitAuthEnvironment, scrub, splitUrlCredentials } from "../../../bootstrap/git/credentials";
import { classifyGitFailure } from "../../../bootstrap/git/exec";
import { checkRepoPath } from "../../../bootstrap/git/repository";
import { PlainGitHost, toSshUrl } from "../../../bootstrap/hosts/git";
import { generateDeployKey } from "../../../bootstrap/ssh/keys";

describe("git credentials", () => {
  it("scrubs userinfo from http(s) URLs and every secret", () => {
    assert.equal(scrub("fatal: unable to access 'https://x-access-token:ghp_abc@github.com/a/b.git/': 403"), "fatal: unable to access 'https://github.com/a/b.git/': 403");
    assert.equal(scrub("token ghp_abcdef leaked", ["ghp_abcdef"]), "token *** leaked");
    assert.equal(scrub("ssh://git@github.com/a/b"), "ssh://git@github.com/a/b", "ssh user names are not secrets");
  });

  it("moves URL-embedded credentials out of the URL", () => {
    assert.deepEqual(splitUrlCredentials("https://bot:p%40ss@git.example/a.git", undefined), {
      url: "https://git.example/a.git",
      credentials: { kind: "basic", username: "bot", password: "p@ss" },
    });
    assert.deepEqual(splitUrlCredentials("file:///srv/a.git", undefined), { url: "file:///srv/a.git", credentials: { kind: "none" } });
  });

  it("passes basic auth as an environment-configured header, never in argv", async () => {
    const auth = await gitAuthEnvironment({ kind: "basic", username: "u", password: "tok3n" });
    assert.equal(auth.env.GIT_CONFIG_KEY_0, "http.extraHeader");
    assert.equal(auth.env.GIT_CONFIG_VALUE_0, `Authorization: Basic ${Buffer.from("u:tok3n").toString("base64")}`);
    assert.ok(auth.secrets.includes("tok3n"));
  });

  it("writes a temporary identity and pins known_hosts for ssh, and removes them", async () => {
    const key = generateDeployKey();
    const pinned = await gitAuthEnvironment({ kind: "ssh", privateKey: key.privateKey, knownHosts: "h ssh-ed25519 AAAA\n" });
    const command = pinned.env.GIT_SSH_COMMAND ?? "";
    assert.match(command, /StrictHostKeyChecking=yes/);
    assert.match(command, /IdentitiesOnly=yes/);
    const identity = /-i '([^']+)'/.exec(command)?.[1] ?? "";
    assert.equal(readFileSync(identity, "utf8"), key.privateKey);
    await pinned.dispose();
    assert.equal(existsSync(identity), false);
    const unpinned = await gitAuthEnvironment({ kind: "ssh", privateKey: key.privateKey });
    assert.match(unpinned.env.GIT_SSH_COMMAND ?? "", /StrictHostKeyChecking=accept-new/);
    await unpinned.dispose();
  });

  it("classifies git failures", () => {
    assert.equal(classifyGitFailure(" ! [rejected]        HEAD -> main (fetch first)"), "GitPushRejected");
    assert.equal(classifyGitFailure(" ! [remote rejected] HEAD -> main (cannot lock ref 'refs/heads/main': is at 1 but expected 2)"), "GitPushRejected");
    assert.equal(classifyGitFailure("fatal: Authentication failed for 'https://h/a.git/'"), "GitAuthFailed");
    assert.equal(classifyGitFailure("git@h: Permission denied (publickey)."), "GitAuthFailed");
    assert.equal(classifyGitFailure("fatal: repository 'x' does not exist"), "GitCommandFailed");
  });

  it("keeps changes inside the work tree", () => {
    assert.equal(checkRepoPath("./a/b/../c.yaml"), "a/c.yaml");
    for (const bad of ["/etc/passwd", "../x", "a/../../x", ".git/hooks/pre-commit", "", "."]) assert.throws(() => checkRepoPath(bad), bad);
  });
});

describe("plain git host", () => {
  it("turns scp-like URLs into the ssh:// form Flux expects", () => {
    assert.equal(toSshUrl("git@github.com:acme/fleet.git"), "ssh://git@github.com/acme/fleet.git");
    assert.equal(toSshUrl("ssh://git@h:2222/x.git"), "ssh://git@h:2222/x.git");
    assert.equal(toSshUrl("https://h/x.git"), undefined);
  });

  it("reports the key for the user to register and adopts the repository as given", async () => {
    const host = new PlainGitHost({ url: "https://user:pw@git.example/fleet.git" });
    const repo = await host.ensureRepository({ owner: "acme", name: "fleet" });
    assert.deepEqual([repo.httpsUrl, repo.created], ["https://git.example/fleet.git", false]);
    const key = generateDeployKey("c");
    const result = await host.ensureDeployKey(repo, { title: "t", publicKey: key.publicKey });
    assert.equal(result.key.publicKey, key.publicKey.split(" ").slice(0, 2).join(" "));
    await assert.rejects(host.ensureDeployKey(repo, { title: "t", publicKey: "nonsense" }));
  });
});
