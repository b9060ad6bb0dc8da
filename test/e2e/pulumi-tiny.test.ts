// The real Pulumi engine, language host and dynamic-provider plugin drive the local control plane.
import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { newNamespace, testKubeConfig } from "../harness/cluster";
import { projectRoot } from "../../local/tools";
import { prepareStack, pulumi, setConfig, stackOutputs, type PulumiWorkspace } from "../../local/pulumi";

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
  assert.match(version.stdout.trim(), /^v3\.65\.1$/);

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
