// The image's entry, `node dist/controllers/main.js`, started with the args the install renders for
// source-controller (only the listen addresses, storage and kubeconfig changed for a process outside a Pod):
// it takes the leader Lease, reconciles a GitRepository as its ServiceAccount, logs in Flux's JSON shape
// and stops gracefully on SIGTERM with exit code 0.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { renderInstall } from "../../../bootstrap/manifests/install";
import { newNamespace, waitFor } from "../../harness/cluster";
import { TestRepo } from "../../fixtures/gitserver/repo";
import { startHttpGitServer } from "../../fixtures/gitserver/http";
import { GitRepos, gitRepository, waitReady } from "../source/env";
import { controllerIdentity, freePort, tempDir } from "../source/process";

const entry = path.resolve(__dirname, "..", "..", "..", "controllers", "main.js");

interface Container {
  args: string[];
}

test("node dist/controllers/main.js runs source-controller with the install's args", { timeout: 180_000 }, async (t) => {
  const identity = await controllerIdentity(t);
  const ns = await newNamespace(t);
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  const sha = repo.commit({ "apps/app.yaml": "kind: ConfigMap\n" }, "first");
  const git = await startHttpGitServer(repo.root);
  t.after(() => git.close());

  const deployment = renderInstall({ crds: [], rbac: {} }, { version: "0.1.0", namespace: identity.namespace }).find((o) => o.kind === "Deployment" && o.metadata.name === "source-controller")!;
  const rendered = (deployment.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0]!.args;
  assert.ok(rendered.includes("--enable-leader-election") && rendered.includes("--log-encoding=json"));
  const storagePort = await freePort();
  // Later flags win (as with pflag): outside a Pod, listen on loopback and advertise it.
  const args = [
    ...rendered,
    `--kubeconfig=${identity.kubeconfigPath}`,
    `--storage-path=${tempDir(t, "mooring-entry-storage-")}`,
    `--storage-addr=127.0.0.1:${storagePort}`,
    `--storage-adv-addr=127.0.0.1:${storagePort}`,
    "--metrics-addr=127.0.0.1:0",
    "--health-addr=127.0.0.1:0",
  ];
  const child = spawn(process.execPath, [entry, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: tempDir(t, "mooring-entry-tmp-"), RUNTIME_NAMESPACE: identity.namespace },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let stderr = "";
  let buffered = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts.filter(Boolean));
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const logs = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const waitLog = (what: string, match: (l: Record<string, unknown>) => boolean) =>
    waitFor(() => {
      if (child.exitCode !== null) throw new Error(`the entry exited with ${child.exitCode}: ${stderr}${lines.join("\n")}`);
      return logs().find(match);
    }, { what, timeoutMs: 60_000, intervalMs: 100 });

  await waitLog("acquired leader lease", (l) => l.msg === "acquired leader lease");
  await waitLog("controllers started", (l) => l.msg === "controllers started");
  await identity.admin.create(GitRepos, ns, gitRepository(ns, "fleet", { url: `${git.url}/fleet.git`, interval: "10m", ref: { branch: "main" } }));
  await waitReady(identity.admin, ns, "fleet", "True", (o) => o.status?.artifact?.revision === `main@sha1:${sha}`, 60_000);
  const reconciled = await waitLog("the reconcile's log line", (l) => l.name === "fleet" && l.namespace === ns && typeof l.controllerKind === "string");
  assert.equal(reconciled.controllerKind, "GitRepository");
  assert.equal(reconciled.controllerGroup, "source.toolkit.fluxcd.io");
  assert.deepEqual(reconciled.GitRepository, { name: "fleet", namespace: ns });
  for (const l of logs()) {
    assert.ok(["trace", "debug", "info", "error"].includes(l.level as string), `level ${String(l.level)}`);
    assert.match(l.ts as string, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    assert.equal(typeof l.msg, "string");
    if ("error" in l) assert.equal(typeof l.error, "string");
  }

  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
  assert.ok(logs().some((l) => l.msg === "manager stopped"));
});
