// bootstrap/git over SSH against a real OpenSSH sshd on loopback, authenticated by a deploy key that
// bootstrap generated; known_hosts scanned with ssh-keyscan and enforced (StrictHostKeyChecking yes).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { generateDeployKey } from "../../../bootstrap/ssh/keys";
import { resolveKnownHosts } from "../../../bootstrap/ssh/knownhosts";
import { commitToBranch } from "../../../bootstrap/git/repository";
import { isBootstrapError } from "../../../bootstrap/errors";
import { createBareRepository } from "../../fixtures/github/git-http";

const sshd = "/usr/sbin/sshd";
const skip = !existsSync(sshd) ? "OpenSSH sshd is not installed" : process.getuid?.() !== 0 ? "sshd on a loopback port needs root here" : false;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("commitToBranch over ssh with a generated deploy key", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "mooring-sshd-"));
  const key = generateDeployKey("mooring@test");
  const repo = createBareRepository(dir, "fleet.git");
  const author = { name: "Mooring", email: "mooring@example.test" };
  let port = 0;
  let daemon: ChildProcess | undefined;
  let url = "";

  before(async () => {
    port = await freePort();
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
    writeFileSync(join(dir, "authorized_keys"), `${key.publicKey}\n`);
    writeFileSync(
      join(dir, "sshd_config"),
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${join(dir, "host_key")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        `PidFile ${join(dir, "sshd.pid")}`,
        "",
      ].join("\n"),
    );
    daemon = spawn(sshd, ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
    daemon.stderr?.resume();
    for (let i = 0; i < 50; i++) {
      try {
        await resolveKnownHosts({ host: "127.0.0.1", port, timeoutSeconds: 1 });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    url = `ssh://${userInfo().username}@127.0.0.1:${port}${repo}`;
  });
  after(() => {
    daemon?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("scans the host key into known_hosts for the [host]:port name", async () => {
    const knownHosts = await resolveKnownHosts({ host: "127.0.0.1", port });
    const hostPub = execFileSync("cat", [join(dir, "host_key.pub")], { encoding: "utf8" }).split(" ").slice(0, 2).join(" ");
    assert.ok(knownHosts.split("\n").includes(`[127.0.0.1]:${port} ${hostPub}`), knownHosts);
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
