// Force recreation of immutable fields, health checks with timeouts, and dependsOn ordering.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigMaps, Jobs, Services, cond, configMap, createKustomization, deployment, getOrUndefined, newFleet, startKustomizeEnv, stuckClaim, waitKs, Kustomizations, type KustomizeEnv } from "./env";
import type { Kustomization } from "../../../controllers/api";

const job = (ns: string, command: string, annotations = "") => `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: ${ns}
${annotations}spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: registry.invalid/migrate:1
          command: ["${command}"]
`;

const service = (ns: string, ip: string) => `apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: ${ns}
spec:
  clusterIP: ${ip}
  ports:
    - port: 80
`;


type Meta = { metadata: { uid: string } };

describe("Kustomization lifecycle", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("immutable field changes fail without force and are recreated with the force annotation or spec.force", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    // Two fixed ClusterIPs in the low band of the cluster's Service range, which the apiserver keeps for fixed
    // addresses (its first 16 in a /24): Services of tests running meanwhile take theirs from above it. The
    // `kubernetes` Service holds .1, cluster DNS .10.
    const first = (await env.admin.get<Meta & { spec: { clusterIP: string } }>(Services, "default", "kubernetes")).spec.clusterIP;
    const host = [2, 4, 6, 8, 11, 13][Math.floor(Math.random() * 6)]!;
    const [ipA, ipB] = [host, host + 1].map((h) => first.replace(/\.\d+$/, `.${h}`));
    await fleet.commit({ "job/job.yaml": job(ns, "v1"), "svc/svc.yaml": service(ns, ipA!) });
    await createKustomization(env, ns, "job", { path: "./job" });
    await createKustomization(env, ns, "svc", { path: "./svc", force: true });
    await waitKs(env, ns, "job", "True");
    await waitKs(env, ns, "svc", "True");
    const jobUid = (await env.admin.get<Meta>(Jobs, ns, "migrate")).metadata.uid;
    const svcUid = (await env.admin.get<Meta>(Services, ns, "api")).metadata.uid;

    const rev = await fleet.commit({ "job/job.yaml": job(ns, "v2"), "svc/svc.yaml": service(ns, ipB!) });
    const failed = await waitKs(env, ns, "job", "False", (k) => k.status?.lastAttemptedRevision === rev);
    assert.match(cond(failed, "Ready")!.message, new RegExp(`Job/${ns}/migrate dry-run failed: .*immutable`));
    const svc = await waitKs(env, ns, "svc", "True", (k) => k.status?.lastAppliedRevision === rev);
    assert.ok(svc);
    const newSvc = await env.admin.get<Meta & { spec: { clusterIP: string } }>(Services, ns, "api");
    assert.equal(newSvc.spec.clusterIP, ipB);
    assert.notEqual(newSvc.metadata.uid, svcUid, "Service recreated (spec.force)");

    const rev2 = await fleet.commit({ "job/job.yaml": job(ns, "v2", "  annotations:\n    kustomize.toolkit.fluxcd.io/force: enabled\n") });
    await env.admin.patch(Kustomizations, ns, "job", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `${Date.now()}` } } });
    await waitKs(env, ns, "job", "True", (k) => k.status?.lastAppliedRevision === rev2);
    const newJob = await env.admin.get<Meta & { spec: { template: { spec: { containers: { command: string[] }[] } } } }>(Jobs, ns, "migrate");
    assert.notEqual(newJob.metadata.uid, jobUid, "Job recreated (force annotation)");
    assert.deepEqual(newJob.spec.template.spec.containers[0]!.command, ["v2"]);
  });

  test("wait: true checks every object; a timeout names the unhealthy object (HealthCheckFailed)", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "ok/web.yaml": deployment("web", ns, 2), "ok/cm.yaml": configMap("c", { a: "1" }, ns), "stuck/pvc.yaml": stuckClaim(ns) });
    await createKustomization(env, ns, "ok", { path: "./ok", wait: true, timeout: "60s" });
    await createKustomization(env, ns, "stuck", { path: "./stuck", wait: true, timeout: "3s", retryInterval: "1h" });
    await createKustomization(env, ns, "checks", { path: "./ok", healthChecks: [{ apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: ns }], timeout: "60s", prune: false });
    const ok = await waitKs(env, ns, "ok", "True");
    assert.equal(cond(ok, "Healthy")!.status, "True");
    assert.equal(cond(ok, "Healthy")!.reason, "Succeeded");
    const checks = await waitKs(env, ns, "checks", "True");
    assert.equal(cond(checks, "Healthy")!.status, "True");
    const stuck = await waitKs(env, ns, "stuck", "False");
    assert.equal(cond(stuck, "Ready")!.reason, "HealthCheckFailed");
    assert.match(cond(stuck, "Ready")!.message, new RegExp(`timeout waiting for: \\[PersistentVolumeClaim/${ns}/data status: 'InProgress'`));
    assert.equal(cond(stuck, "Healthy")!.status, "False");
    assert.equal(stuck.status!.lastAppliedRevision, undefined, "not applied successfully while unhealthy");
    assert.equal(stuck.status!.inventory!.entries.length, 1, "the applied PVC is in the inventory");
  });

  test("dependsOn waits for the dependency to be Ready at its revision (DependencyNotReady), then applies", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "infra/pvc.yaml": stuckClaim(ns), "apps/cm.yaml": configMap("app", { a: "1" }, ns) });
    await createKustomization(env, ns, "infra", { path: "./infra", wait: true, timeout: "2s", retryInterval: "2s" });
    await createKustomization(env, ns, "apps", { path: "./apps", dependsOn: [{ name: "infra" }] });
    const waiting = await waitKs(env, ns, "apps", "False");
    assert.equal(cond(waiting, "Ready")!.reason, "DependencyNotReady");
    assert.equal(cond(waiting, "Ready")!.message, `dependency '${ns}/infra' is not ready`);
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "app"), undefined, "nothing applied before the dependency is ready");

    const rev = await fleet.commit({ "infra/pvc.yaml": null, "infra/cm.yaml": configMap("infra", { a: "1" }, ns) });
    const infra = await waitKs(env, ns, "infra", "True", (k) => k.status?.lastAppliedRevision === rev);
    const apps = await waitKs(env, ns, "apps", "True", (k: Kustomization) => k.status?.lastAppliedRevision === rev, 30_000);
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "app"));
    const infraReadyAt = Date.parse(cond(infra, "Ready")!.lastTransitionTime);
    const appsReadyAt = Date.parse(cond(apps, "Ready")!.lastTransitionTime);
    assert.ok(appsReadyAt >= infraReadyAt, "apps became Ready after infra");
  });
});
