// Drift in seconds: a kubectl scale/edit/delete of a managed object is reverted by a watch-triggered
// reconcile, not at the interval. Latency is measured and logged, not asserted.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { toolPath } from "../../../local/tools";
import { waitFor } from "../../harness/cluster";
import { ConfigMaps, Deployments, configMap, createKustomization, deployment, getOrUndefined, newFleet, requestReconcile, startKustomizeEnv, waitKs, type KustomizeEnv } from "./env";

const run = promisify(execFile);

describe("drift is reverted within seconds", () => {
  let env: KustomizeEnv;
  let kubectl: string;
  before(async () => {
    kubectl = await toolPath("kubectl");
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  const kube = (...args: string[]) => run(kubectl, args, { env: { ...process.env, KUBECONFIG: env.kubeconfigPath } });

  test("kubectl scale, edit and delete are reverted by the watch (interval 1h)", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "app/web.yaml": deployment("web", ns, 2), "app/cm.yaml": configMap("settings", { mode: "blue" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app", interval: "1h" });
    await waitKs(env, ns, "app", "True");

    let started = Date.now();
    await kube("scale", "deployment/web", "-n", ns, "--replicas=5");
    await waitFor(async () => (await env.admin.get<{ spec: { replicas: number } }>(Deployments, ns, "web")).spec.replicas === 2, { what: "replicas reverted to 2", timeoutMs: 20_000, intervalMs: 20 });
    const scaleMs = Date.now() - started;

    started = Date.now();
    await kube("patch", "configmap/settings", "-n", ns, "--type=merge", "-p", '{"data":{"mode":"green"}}');
    await waitFor(async () => (await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "settings")).data.mode === "blue", { what: "ConfigMap edit reverted", timeoutMs: 20_000, intervalMs: 20 });
    const editMs = Date.now() - started;

    const uid = (await env.admin.get<{ metadata: { uid: string } }>(ConfigMaps, ns, "settings")).metadata.uid;
    started = Date.now();
    await kube("delete", "configmap/settings", "-n", ns, "--wait=false");
    await waitFor(async () => {
      const cm = await getOrUndefined<{ metadata: { uid: string } }>(env.admin, ConfigMaps, ns, "settings");
      return cm !== undefined && cm.metadata.uid !== uid;
    }, { what: "deleted ConfigMap recreated", timeoutMs: 20_000, intervalMs: 20 });
    const deleteMs = Date.now() - started;

    const drifts = env.kustomize.kustomize!.driftEvents.filter((d) => d.owner === `${ns}/app`);
    assert.ok(drifts.some((d) => d.kind === "modified" && d.subject === `Deployment/${ns}/web`), JSON.stringify(drifts));
    assert.ok(drifts.some((d) => d.kind === "deleted" && d.subject === `ConfigMap/${ns}/settings`));
    t.diagnostic(`drift revert latency: scale ${scaleMs} ms, edit ${editMs} ms, delete ${deleteMs} ms (from starting kubectl, ~100-200 ms of it kubectl itself)`);
    console.log(`drift revert latency: scale ${scaleMs} ms, edit ${editMs} ms, delete ${deleteMs} ms`);
  });

  test("20 kubectl scale reverts: each is reverted by the watch; the median is logged", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "app/web.yaml": deployment("web", ns, 2) });
    await createKustomization(env, ns, "app", { path: "./app", interval: "1h" });
    await waitKs(env, ns, "app", "True");
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = Date.now();
      await kube("scale", "deployment/web", "-n", ns, `--replicas=${3 + (i % 4)}`);
      await waitFor(async () => (await env.admin.get<{ spec: { replicas: number } }>(Deployments, ns, "web")).spec.replicas === 2, {
        what: `scale #${i + 1} reverted to 2 replicas`,
        timeoutMs: 20_000,
        intervalMs: 20,
      });
      samples.push(Date.now() - started);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const median = (sorted[9]! + sorted[10]!) / 2;
    const modified = env.kustomize.kustomize!.driftEvents.filter((d) => d.owner === `${ns}/app` && d.kind === "modified" && d.subject === `Deployment/${ns}/web`);
    assert.ok(modified.length >= 20, `every revert came from the drift watch (interval 1h): ${modified.length} drift events`);
    const msg = `kubectl scale revert over 20 samples: median ${median} ms, min ${sorted[0]} ms, max ${sorted[19]} ms (from starting kubectl; drift events ${modified.length})`;
    t.diagnostic(msg);
    console.log(msg);
  });

  test("an edit of an applied label on a Deployment (its generation stays) is reverted by the watch", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const labelled = deployment("web", ns, 0).replace(`  namespace: ${ns}\n`, `  namespace: ${ns}\n  labels: { example.com/tier: gold }\n`);
    await fleet.commit({ "app/web.yaml": labelled });
    await createKustomization(env, ns, "app", { path: "./app", interval: "1h" });
    await waitKs(env, ns, "app", "True");
    type Labelled = { metadata: { generation: number; labels?: Record<string, string> } };
    const generation = (await env.admin.get<Labelled>(Deployments, ns, "web")).metadata.generation;
    await kube("label", "deployment/web", "-n", ns, "--overwrite", "example.com/tier=bronze");
    await waitFor(async () => (await env.admin.get<Labelled>(Deployments, ns, "web")).metadata.labels?.["example.com/tier"] === "gold", { what: "label reverted to gold", timeoutMs: 20_000, intervalMs: 20 });
    assert.equal((await env.admin.get<Labelled>(Deployments, ns, "web")).metadata.generation, generation, "a label edit leaves the generation as it was");
    assert.ok(env.kustomize.kustomize!.driftEvents.some((d) => d.owner === `${ns}/app` && d.kind === "modified" && d.subject === `Deployment/${ns}/web`));
  });

  test("a change to a field the build does not set is not drift (no revert, no reconcile)", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "app/cm.yaml": configMap("settings", { mode: "blue" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app", interval: "1h" });
    await waitKs(env, ns, "app", "True");
    const before = env.kustomize.kustomize!.driftEvents.length;
    await kube("annotate", "configmap/settings", "-n", ns, "example.com/owner=someone-else");
    await new Promise((r) => setTimeout(r, 1500));
    const cm = await env.admin.get<{ metadata: { annotations?: Record<string, string> } }>(ConfigMaps, ns, "settings");
    assert.equal(cm.metadata.annotations?.["example.com/owner"], "someone-else");
    assert.equal(env.kustomize.kustomize!.driftEvents.filter((d) => d.owner === `${ns}/app`).length, 0, `no drift reported (had ${before} before)`);
  });
});

describe("--drift-watch=false", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv({ driftWatch: false });
  });
  after(async () => {
    await env?.stop();
  });

  test("without the drift watch a manual change stays until the next reconcile", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "app/cm.yaml": configMap("settings", { mode: "blue" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app", interval: "1h" });
    await waitKs(env, ns, "app", "True");
    assert.equal(env.kustomize.kustomize!.drift, undefined);
    await env.admin.patch(ConfigMaps, ns, "settings", { data: { mode: "green" } });
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "settings")).data.mode, "green");
    const token = await requestReconcile(env.admin, ns, "app");
    await waitKs(env, ns, "app", "True", (k) => k.status?.lastHandledReconcileAt === token);
    assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "settings")).data.mode, "blue", "reverted by the requested reconcile");
  });
});
