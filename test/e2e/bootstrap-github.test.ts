// The Bootstrap against GitHub's REST API (the loopback stand-in, test/fixtures/github): the repository is
// created, the deploy key registered read-only, the files pushed with the token; destroy removes the key.
import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { projectRoot } from "../../local/tools";
import { prepareStack, pulumi, setConfig, stackOutputs, type PulumiWorkspace } from "../../local/pulumi";
import { startFakeGitHub } from "../fixtures/github/server";
import { testKubeConfig } from "../harness/cluster";
import { exists, gitShow, kubeconfigPath } from "./helpers";

test("GitHub: up creates the repository, registers the deploy key and commits; destroy removes the key", { timeout: 900_000 }, async (t) => {
  const github = await startFakeGitHub({ tokens: { "ghp-e2e-token": "octo" } });
  t.after(() => github.close());
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-e2e-github-"));
  t.after(() => fs.rm(stateDir, { recursive: true, force: true }));
  const ws: PulumiWorkspace = { programDir: path.join(projectRoot(), "examples", "github"), stateDir, stack: "github" };
  await prepareStack(ws);
  const set = (k: string, v: string, secret = false) => setConfig(ws, k, v, secret);
  await set("kubeconfig", kubeconfigPath());
  await set("owner", "octo");
  await set("repository", "fleet");
  await set("token", "ghp-e2e-token", true);
  await set("baseUrl", github.apiUrl);
  // The stand-in speaks git over HTTP only: nothing reads over ssh here, so the status is not awaited.
  await set("waitForReady", "false");
  await set("knownHosts", "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl");

  assert.equal(github.repository("octo", "fleet"), undefined);
  await pulumi(ws, ["up", "--yes", "--skip-preview"], { timeoutMs: 600_000 });
  const out = await stackOutputs(ws);
  const repo = github.repository("octo", "fleet");
  assert.ok(repo, "the repository was created");
  assert.equal(repo.private, true);
  const keys = github.deployKeys("octo", "fleet");
  assert.equal(keys.length, 1);
  assert.equal(keys[0]!.read_only, true);
  assert.equal(keys[0]!.key, String(out.publicKey).split(" ").slice(0, 2).join(" "));
  assert.match(String(out.deployKeyFingerprint), /^SHA256:/);
  assert.match(String(out.repositoryUrl), /^ssh:\/\/git@127\.0\.0\.1\/octo\/fleet\.git$/);
  const bare = path.join(github.gitRoot, "octo", "fleet.git");
  assert.match(gitShow(bare, "clusters/prod/flux-system/gotk-sync.yaml") ?? "", /url: ssh:\/\/git@127\.0\.0\.1\/octo\/fleet\.git/);

  const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
  const secret = await core.readNamespacedSecret({ name: "flux-system", namespace: "flux-system" });
  assert.match(Buffer.from(secret.data?.identity ?? "", "base64").toString(), /BEGIN OPENSSH PRIVATE KEY/);
  assert.equal(Buffer.from(secret.data?.["identity.pub"] ?? "", "base64").toString(), out.publicKey);
  assert.match(Buffer.from(secret.data?.known_hosts ?? "", "base64").toString(), /^127\.0\.0\.1 ssh-ed25519 /);

  // A second up is a no-op: the same key stays registered, no new commit.
  await pulumi(ws, ["up", "--yes", "--skip-preview", "--expect-no-changes"], { timeoutMs: 600_000 });
  assert.equal(github.deployKeys("octo", "fleet").length, 1);

  await pulumi(ws, ["destroy", "--yes", "--skip-preview"], { timeoutMs: 600_000 });
  assert.equal(github.deployKeys("octo", "fleet").length, 0, "the deploy key is removed");
  assert.ok(github.repository("octo", "fleet"), "the repository is kept");
  assert.equal(gitShow(bare, "clusters/prod/flux-system/gotk-components.yaml"), undefined, "the install files are removed from git");
  const ext = testKubeConfig().makeApiClient(k8s.ApiextensionsV1Api);
  assert.equal(await exists(() => ext.readCustomResourceDefinition({ name: "kustomizations.kustomize.toolkit.fluxcd.io" })), false);
});
