// Compatibility: the real flux CLI (2.7.5) and kubectl drive and read Mooring's source-controller.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { toolPath } from "../../../local/tools";
import { newNamespace } from "../../harness/cluster";
import { GitRepos, createSecret, getRepo, gitCredentials, gitRepository, startSourceEnv, waitReady, type SourceEnv } from "./env";

const run = promisify(execFile);

describe("flux CLI and kubectl against the source-controller", () => {
  let env: SourceEnv;
  let flux: string;
  let kubectl: string;
  const kubeEnv = () => ({ ...process.env, KUBECONFIG: process.env.MOORING_TEST_KUBECONFIG! });

  before(async () => {
    flux = await toolPath("flux");
    kubectl = await toolPath("kubectl");
    env = await startSourceEnv();
    env.repo.commit({ "apps/app.yaml": "kind: ConfigMap\n" }, "initial");
  });
  after(async () => {
    await env?.stop();
  });

  test("kubectl wait, flux get/reconcile/suspend/resume source git", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: env.httpUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" } }));

    const waited = await run(kubectl, ["wait", "--for=condition=Ready", "gitrepository/fleet", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(waited.stdout, /condition met/);

    const got = await run(flux, ["get", "sources", "git", "-A"], { env: kubeEnv() });
    const row = got.stdout.split("\n").find((l) => l.startsWith(ns));
    assert.ok(row, got.stdout);
    assert.match(row, /fleet\s+main@sha1:[0-9a-f]{7,}\s+False\s+True\s+stored artifact for revision/);

    const next = env.repo.commit({ "apps/two.yaml": "kind: ConfigMap\n" }, "second");
    const reconciled = await run(flux, ["reconcile", "source", "git", "fleet", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(reconciled.stdout + reconciled.stderr, /fetched revision main@sha1:/);
    assert.equal((await getRepo(env.admin, ns, "fleet")).status!.artifact!.revision, `main@sha1:${next}`);

    await run(flux, ["suspend", "source", "git", "fleet", "-n", ns], { env: kubeEnv() });
    assert.equal((await getRepo(env.admin, ns, "fleet")).spec.suspend, true);
    const third = env.repo.commit({ "apps/three.yaml": "kind: ConfigMap\n" }, "third");
    const resumed = await run(flux, ["resume", "source", "git", "fleet", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    assert.match(resumed.stdout + resumed.stderr, /resumed|fetched revision/);
    const o = await waitReady(env.admin, ns, "fleet", "True", (x) => x.status?.artifact?.revision === `main@sha1:${third}`);
    // flux resume clears the field with a merge patch (suspend is omitempty in Flux's API types).
    assert.notEqual(o.spec.suspend, true);
  });
});
