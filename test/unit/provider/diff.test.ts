// The dynamic resources' diffs: what `pulumi preview` reports as a change, and what it must not.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as gitfiles from "../../../provider/impl/gitfiles";
import * as status from "../../../provider/impl/status";
import * as deploykey from "../../../provider/impl/deploykey";

const install = { version: "0.1.0", namespace: "flux-system", controllers: ["source", "kustomize"] as ("source" | "kustomize")[], networkPolicy: true };
const sync = { url: "http://127.0.0.1/fleet.git", branch: "main", path: "clusters/local", namespace: "flux-system", interval: "1m0s", secretName: "flux-system" };
const inputs: gitfiles.GitFilesInputs = {
  url: "http://127.0.0.1/fleet.git",
  branch: "main",
  path: "clusters/local",
  credentials: { kind: "basic", username: "u", password: "p" },
  author: { name: "Mooring", email: "mooring@localhost" },
  install,
  sync,
  deleteOnDestroy: true,
};
const olds: gitfiles.GitFilesOutputs = { ...inputs, commit: "a".repeat(40), digests: gitfiles.expectedDigests(inputs) };

test("git files: the same inputs are no change", () => {
  assert.deepEqual(gitfiles.diff(olds, inputs).changes, false);
});

test("git files: a version or interval change is an update (a new commit), not a replacement", () => {
  for (const news of [{ ...inputs, install: { ...install, version: "0.2.0" } }, { ...inputs, sync: { ...sync, interval: "30s" } }]) {
    const d = gitfiles.diff(olds, news);
    assert.equal(d.changes, true);
    assert.deepEqual(d.replaces, []);
  }
});

test("git files: what refresh found in the branch counts — an edited gotk-sync.yaml is rewritten", () => {
  const drifted = { ...olds, digests: { ...olds.digests, "clusters/local/flux-system/gotk-sync.yaml": "sha256:other" } };
  assert.equal(gitfiles.diff(drifted, inputs).changes, true);
});

test("git files: another path or branch replaces the files", () => {
  assert.deepEqual(gitfiles.diff(olds, { ...inputs, path: "clusters/prod" }).replaces, ["path"]);
  assert.deepEqual(gitfiles.diff(olds, { ...inputs, branch: "prod" }).replaces, ["branch"]);
});

test("status: a new commit waits again; a ready status with the same commit is no change", () => {
  const s: status.SyncStatusOutputs = {
    cluster: { kubeconfig: "/k" },
    namespace: "flux-system",
    commit: "a".repeat(40),
    git: { url: "u", branch: "main", credentials: { kind: "none" } },
    waitForReady: true,
    timeoutSeconds: 300,
    ready: true,
    revision: `main@sha1:${"a".repeat(40)}`,
    inventoryCount: 3,
    conditions: [],
  };
  assert.equal(status.diff(s, s).changes, false);
  assert.equal(status.diff(s, { ...s, commit: "b".repeat(40) }).changes, true);
  assert.equal(status.diff({ ...s, ready: false }, s).changes, true);
  assert.equal(status.revisionSha(`main@sha1:${"c".repeat(40)}`), "c".repeat(40));
});

test("deploy key: a key the host lost is made again; another repository replaces it", () => {
  const key: deploykey.DeployKeyOutputs = {
    host: { kind: "github", token: "t" },
    owner: "acme",
    repository: "fleet",
    title: "mooring-flux-system",
    write: false,
    sshHost: "github.com",
    sshPort: 22,
    publicKey: "ssh-ed25519 AAAA x",
    privateKey: "k",
    fingerprint: "SHA256:x",
    keyId: "1",
    resolvedKnownHosts: "",
    registered: true,
  };
  assert.equal(deploykey.diff(key, key).changes, false);
  assert.deepEqual(deploykey.diff({ ...key, registered: false }, key).replaces, ["registered"]);
  assert.deepEqual(deploykey.diff(key, { ...key, repository: "fleet2" }).replaces, ["repository"]);
});
