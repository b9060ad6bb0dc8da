// The real Pulumi engine, language host, dynamic-provider plugin and Kubernetes provider plugin drive the
// local control plane.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { isStatus, newNamespace, testKubeConfig } from "../harness/cluster";
import { loadTools, projectRoot } from "../../local/tools";
import { prepareStack, pulumi, setConfig, stackOutputs, type PulumiWorkspace } from "../../local/pulumi";

const engineVersion = loadTools().builds.pulumi!.version;

test("pulumi up creates a ConfigMap through a dynamic resource; update and destroy follow", { timeout: 600_000 }, async (t) => {
  const namespace = await newNamespace(t);
  const kubeconfig = process.env.MOORING_TEST_KUBECONFIG!;
  const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-pulumi-"));
  t.after(() => fs.rm(stateDir, { recursive: true, force: true }));
  // The program runs from a scratch copy so stack config files never land in the repository.
  const programDir = path.join(stateDir, "program");
  await fs.cp(path.join(projectRoot(), "test", "fixtures", "pulumi-tiny"), programDir, { recursive: true });
  await fs.symlink(path.join(projectRoot(), "node_modules"), path.join(programDir, "node_modules"));
  const ws: PulumiWorkspace = { programDir, stateDir, stack: "tiny" };

  const version = await pulumi(ws, ["version"]);
  assert.equal(version.stdout.trim(), `v${engineVersion}`);

  await prepareStack(ws);
  await setConfig(ws, "kubeconfig", kubeconfig);
  await setConfig(ws, "namespace", namespace);
  await pulumi(ws, ["up", "--yes", "--skip-preview"]);

  const cm = await core.readNamespacedConfigMap({ name: "pulumi-tiny", namespace });
  assert.equal(cm.data?.greeting, "hello");
  const outputs = await stackOutputs(ws);
  assert.equal(outputs.configMapUid, cm.metadata?.uid, "stack output reports the live object's uid");

  // A config change is a real update, shown by preview and applied by up.
  await setConfig(ws, "greeting", "ahoy");
  const preview = await pulumi(ws, ["preview", "--diff"]);
  assert.match(preview.stdout, /~ 1 to update|1 to update/);
  await pulumi(ws, ["up", "--yes", "--skip-preview"]);
  const updated = await core.readNamespacedConfigMap({ name: "pulumi-tiny", namespace });
  assert.equal(updated.data?.greeting, "ahoy");

  await pulumi(ws, ["destroy", "--yes", "--skip-preview"]);
  await assert.rejects(core.readNamespacedConfigMap({ name: "pulumi-tiny", namespace }), (err: unknown) => (err as { code?: number }).code === 404);
});

/** Where `require("@pulumi/pulumi")` inside @pulumi/kubernetes lands: the one SDK copy a program must share with it. */
async function sdkBesideKubernetes(): Promise<string> {
  const k8sDir = await fs.realpath(path.dirname(require.resolve("@pulumi/kubernetes/package.json", { paths: [projectRoot()] })));
  return path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [k8sDir] }));
}

test("pulumi up through @pulumi/kubernetes and its provider plugin: Namespace and ConfigMap; update and destroy follow", { timeout: 600_000 }, async (t) => {
  const kubeconfig = process.env.MOORING_TEST_KUBECONFIG!;
  const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
  const namespace = `pulumi-k8s-${randomBytes(3).toString("hex")}`;
  t.after(async () => {
    await core.deleteNamespace({ name: namespace }).catch((err: unknown) => {
      if (!isStatus(err, 404)) throw err;
    });
  });
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-pulumi-k8s-"));
  t.after(() => fs.rm(stateDir, { recursive: true, force: true }));
  // A project of its own, as a user's: @pulumi/kubernetes and the very @pulumi/pulumi it requires.
  const programDir = path.join(stateDir, "program");
  await fs.cp(path.join(projectRoot(), "test", "fixtures", "pulumi-k8s"), programDir, { recursive: true });
  await fs.mkdir(path.join(programDir, "node_modules", "@pulumi"), { recursive: true });
  const sdkDir = await sdkBesideKubernetes();
  await fs.symlink(sdkDir, path.join(programDir, "node_modules", "@pulumi", "pulumi"));
  await fs.symlink(path.dirname(require.resolve("@pulumi/kubernetes/package.json", { paths: [projectRoot()] })), path.join(programDir, "node_modules", "@pulumi", "kubernetes"));
  const sdkVersion = (JSON.parse(await fs.readFile(path.join(sdkDir, "package.json"), "utf8")) as { version: string }).version;
  t.diagnostic(`engine v${engineVersion}, @pulumi/pulumi ${sdkVersion} from ${sdkDir}`);
  const ws: PulumiWorkspace = { programDir, stateDir, stack: "k8s" };

  await prepareStack(ws);
  await setConfig(ws, "kubeconfig", await fs.readFile(kubeconfig, "utf8"), true);
  await setConfig(ws, "namespace", namespace);
  const started = Date.now();
  const up = await pulumi(ws, ["up", "--yes", "--skip-preview"]);
  t.diagnostic(`first pulumi up: ${Date.now() - started} ms`);
  assert.match(up.stdout, /\b4 created\b/, "stack, provider, namespace and config map");
  assert.doesNotMatch(up.stdout + up.stderr, /warning: using pulumi-resource-kubernetes from \$PATH/);

  const ns = await core.readNamespace({ name: namespace });
  assert.equal(ns.metadata?.labels?.["app.kubernetes.io/managed-by"], "pulumi");
  const cm = await core.readNamespacedConfigMap({ name: "pulumi-k8s", namespace });
  assert.equal(cm.data?.greeting, "hello");
  const outputs = await stackOutputs(ws);
  assert.equal(outputs.namespace, namespace);
  assert.equal(outputs.configMapUid, cm.metadata?.uid, "stack output reports the live object's uid");

  // The stack records the provider plugin at the version the SDK asked for, and no secret in plain text.
  const exported = await pulumi(ws, ["stack", "export"]);
  const deployment = JSON.parse(exported.stdout) as { deployment: { resources: { type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }[] } };
  const providerState = deployment.deployment.resources.find((r) => r.type === "pulumi:providers:kubernetes");
  assert.equal(providerState?.inputs?.version, loadTools().builds["pulumi-kubernetes"]!.version);
  const keyLine = (await fs.readFile(kubeconfig, "utf8")).split("\n").find((l) => l.includes("client-key-data:"));
  assert.ok(keyLine, "the test kubeconfig authenticates with a client key");
  assert.ok(!exported.stdout.includes(keyLine.split(":")[1]!.trim()), "the kubeconfig is stored as a secret");

  // A data change replaces the ConfigMap (the provider treats ConfigMap data as immutable by default).
  await setConfig(ws, "greeting", "ahoy");
  const preview = await pulumi(ws, ["preview", "--diff"]);
  assert.match(preview.stdout, /1 to replace/);
  assert.match(preview.stdout, /greeting: "hello" => "ahoy"/);
  await pulumi(ws, ["up", "--yes", "--skip-preview"]);
  const updated = await core.readNamespacedConfigMap({ name: "pulumi-k8s", namespace });
  assert.equal(updated.data?.greeting, "ahoy");
  assert.notEqual(updated.metadata?.uid, cm.metadata?.uid);
  assert.equal((await stackOutputs(ws)).configMapUid, updated.metadata?.uid);

  await pulumi(ws, ["destroy", "--yes", "--skip-preview"]);
  await assert.rejects(core.readNamespacedConfigMap({ name: "pulumi-k8s", namespace }), (err: unknown) => isStatus(err, 404));
  await assert.rejects(core.readNamespace({ name: namespace }), (err: unknown) => isStatus(err, 404));
});
