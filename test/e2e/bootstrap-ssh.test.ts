// The Bootstrap component over SSH with a real OpenSSH sshd bound on the node address: Pulumi pushes with the
// operator's key, the cluster gets its own read-only deploy key, only a registered key can read the
// repository, and source-controller's pod fetches with it.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { fingerprintOfPublicKey } from "../../bootstrap";
import { generateKeyPair, startSshGitServer } from "../fixtures/gitserver/ssh";
import { TestRepo } from "../fixtures/gitserver/repo";
import { testKubeConfig, waitFor } from "../harness/cluster";
import { gitLog, localStack, seedFleet } from "./helpers";
import { realNodeTarget } from "./pods";

const run = promisify(execFile);
const ns = "flux-system";

/** `git ls-remote` with one private key and the pinned host key; resolves to the refs or rejects. */
async function lsRemote(url: string, privateKey: string, knownHosts: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-ssh-probe-"));
  try {
    await fs.writeFile(path.join(dir, "id"), privateKey.endsWith("\n") ? privateKey : privateKey + "\n", { mode: 0o600 });
    await fs.writeFile(path.join(dir, "known_hosts"), knownHosts);
    const ssh = `ssh -i ${path.join(dir, "id")} -o IdentitiesOnly=yes -o UserKnownHostsFile=${path.join(dir, "known_hosts")} -o StrictHostKeyChecking=yes -o BatchMode=yes`;
    const out = await run("git", ["ls-remote", url], { env: { ...process.env, GIT_SSH_COMMAND: ssh, GIT_TERMINAL_PROMPT: "0" }, timeout: 30_000 });
    return out.stdout;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test("Bootstrap over SSH: a generated deploy key reads once registered, and no other key can", { timeout: 1_200_000 }, async (t) => {
  const node = await realNodeTarget();
  if (typeof node === "string") {
    t.skip(node);
    return;
  }
  const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
  const custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  seedFleet(repo);
  const operator = generateKeyPair("operator");
  const sshd = await startSshGitServer(operator.publicKey, node.nodeAddress);
  t.after(() => sshd.close());
  const url = sshd.urlFor(repo.bare);
  const before = gitLog(repo.bare).length;

  const stack = await localStack(t, "ssh", { gitUrl: url, gitKnownHosts: sshd.knownHosts, waitForReady: "false" }, { gitPrivateKey: operator.privateKey });
  await stack.up();
  const out = await stack.outputs();

  // Pulumi pushed the install with the operator's key; the cluster's key is a new one.
  assert.equal(gitLog(repo.bare).length, before + 1, "one commit for the install");
  const publicKey = String(out.publicKey);
  assert.match(publicKey, /^ssh-ed25519 AAAA[0-9A-Za-z+/=]+/);
  assert.notEqual(publicKey.split(" ")[1], operator.publicKey.split(" ")[1], "the deploy key is not the operator's key");
  assert.equal(out.deployKeyFingerprint, fingerprintOfPublicKey(publicKey));

  const secret = await core.readNamespacedSecret({ name: "flux-system", namespace: ns });
  const data = (k: string) => Buffer.from(secret.data?.[k] ?? "", "base64").toString();
  assert.match(data("identity"), /^-----BEGIN OPENSSH PRIVATE KEY-----/);
  assert.equal(data("identity.pub").trim(), publicKey.trim());
  assert.equal(data("known_hosts"), sshd.knownHosts);

  // Not registered yet: the deploy key is refused, as is any stranger's key.
  await assert.rejects(lsRemote(url, data("identity"), sshd.knownHosts), /Permission denied|Could not read from remote/);
  const stranger = generateKeyPair("stranger");
  await assert.rejects(lsRemote(url, stranger.privateKey, sshd.knownHosts), /Permission denied|Could not read from remote/);

  // Registering the output public key (what a git host's deploy-key page does) lets exactly it read.
  sshd.authorize(publicKey);
  assert.match(await lsRemote(url, data("identity"), sshd.knownHosts), /refs\/heads\/main/);
  await assert.rejects(lsRemote(url, stranger.privateKey, sshd.knownHosts), /Permission denied|Could not read from remote/);

  // source-controller's pod, running as its ServiceAccount, fetches with the deploy key.
  await stack.config("waitForReady", "true");
  await stack.up();
  const done = await stack.outputs();
  assert.equal(done.ready, true);
  const gitRepository = await waitFor(
    async () => {
      const o = (await custom.getNamespacedCustomObject({ group: "source.toolkit.fluxcd.io", version: "v1", namespace: ns, plural: "gitrepositories", name: "flux-system" })) as {
        status?: { artifact?: { revision?: string }; conditions?: { type: string; status: string }[] };
      };
      return o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? o : undefined;
    },
    { what: "GitRepository flux-system Ready over ssh", timeoutMs: 120_000 },
  );
  assert.equal(gitRepository.status?.artifact?.revision, `main@sha1:${String(done.commit)}`);

  await stack.destroy();
});
