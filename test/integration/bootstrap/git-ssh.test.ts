// bootstrap/git over SSH against a real OpenSSH sshd on loopback, authenticated by a deploy key that
// bootstrap generated; known_hosts scanned with ssh-keyscan and enforced (StrictHostKeyChecking yes).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateDeployKey } from "../../../bootstrap/ssh/keys";
import { resolveKnownHosts } from "../../../bootstrap/ssh/knownhosts";
import { commitToBranch } from "../../../bootstrap/git/repository";
import { isBootstrapError } from "../../../bootstrap/errors";
import { createBareRepository } from "../../fixtures/github/git-http";
import { sshdMissing, startSshGitServer, type SshGitServer } from "../../fixtures/gitserver/ssh";

const skip = sshdMissing() ?? (process.getuid?.() !== 0 ? "sshd on a loopback port needs root here" : false);

describe("commitToBranch over ssh with a generated deploy key", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "mooring-sshrepo-"));
  const key = generateDeployKey("mooring@test");
  const repo = createBareRepository(dir, "fleet.git");
  const author = { name: "Mooring", email: "mooring@example.test" };
  let server: SshGitServer;
  let port = 0;
  let url = "";

  before(async () => {
    server = await startSshGitServer(key.publicKey);
    port = server.port;
    url = server.urlFor(repo);
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("scans the host key into known_hosts for the [host]:port name", async () => {
    const knownHosts = await resolveKnownHosts({ host: "127.0.0.1", port });
    assert.ok(knownHosts.split("\n").includes(server.knownHosts.trim()), knownHosts);
  });

  it("pushes with the deploy key and the pinned known_hosts", async () => {
    const knownHosts = await resolveKnownHosts({ host: "127.0.0.1", port });
    const result = await commitToBranch({ url, branch: "main", credentials: { kind: "ssh", privateKey: key.privateKey, knownHosts }, author, message: "over ssh", change: { write: { "a.yaml": "a: 1\n" } } });
    assert.equal(result.changed, true);
    assert.equal(execFileSync("git", ["--git-dir", repo, "rev-parse", "main"], { encoding: "utf8" }).trim(), result.commit);
  });

  it("refuses a host whose key is not the pinned one", async () => {
    const other = generateDeployKey().publicKey.split(" ").slice(0, 2).join(" ");
    await assert.rejects(
      commitToBranch({ url, branch: "main", credentials: { kind: "ssh", privateKey: key.privateKey, knownHosts: `[127.0.0.1]:${port} ${other}\n` }, author, message: "x", change: { write: { "b.yaml": "b\n" } } }),
      (e) => isBootstrapError(e, "GitAuthFailed") && /Host key verification failed/.test(e.message) && !e.message.includes("PRIVATE KEY"),
    );
  });

  it("fails with GitAuthFailed for a key the server does not know", async () => {
    const stranger = generateDeployKey();
    const knownHosts = await resolveKnownHosts({ host: "127.0.0.1", port });
    await assert.rejects(
      commitToBranch({ url, branch: "main", credentials: { kind: "ssh", privateKey: stranger.privateKey, knownHosts }, author, message: "x", change: { write: { "c.yaml": "c\n" } } }),
      (e) => isBootstrapError(e, "GitAuthFailed") && /Permission denied/.test(e.message),
    );
  });
});
