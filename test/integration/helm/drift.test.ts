// spec.driftDetection on a real apiserver: with mode enabled a scaled, an edited and a deleted object of the
// release are corrected within seconds (the release's objects are watched; its interval is 10m), fields an
// ignore rule names are left alone, no new release revision is written; with mode warn drift only yields a
// Warning event.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { isNotFound, type ResourceRef } from "../../../controllers/runtime/kube";
import type { HelmRelease } from "../../../controllers/api";
import { projectRoot } from "../../../local/tools";
import { newNamespace, waitFor } from "../../harness/cluster";
import { Deployments, HelmReleases, Secrets, condition, helm, startHelmEnv, waitForRelease, type HelmEnv } from "./env";

const ServiceAccounts: ResourceRef = { kind: "ServiceAccount", group: "", version: "v1", plural: "serviceaccounts", namespaced: true };
const Services: ResourceRef = { kind: "Service", group: "", version: "v1", plural: "services", namespaced: true };
const Events: ResourceRef = { kind: "Event", group: "", version: "v1", plural: "events", namespaced: true };

interface Deployment {
  spec: { replicas: number; template: { spec: { containers: { name: string; image: string }[] } } };
}
interface Service {
  spec: { ports: { port: number; targetPort: number }[] };
}
interface EventObj {
  type: string;
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string };
}

describe("HelmRelease drift detection", { timeout: 600_000 }, () => {
  let env: HelmEnv;
  let ns: string;

  before(async () => {
    env = await startHelmEnv();
    ns = await newNamespace("helmdrift");
    const out = await helm(["package", path.join(projectRoot(), "bench", "charts", "bench-app"), "-d", env.chartDir]);
    const file = /saved it to: (.+\.tgz)/.exec(out.stdout)![1]!.trim();
    await env.charts.publish(env.admin, ns, "bench", file, "1.0.0");
  });
  after(async () => {
    if (env) await env.stop();
  });

  const release = (name: string, driftDetection: NonNullable<HelmRelease["spec"]["driftDetection"]>): HelmRelease => ({
    apiVersion: "helm.toolkit.fluxcd.io/v2",
    kind: "HelmRelease",
    metadata: { name, namespace: ns },
    spec: { interval: "10m", chartRef: { kind: "HelmChart", name: "bench" }, values: { replicaCount: 0 }, driftDetection },
  });
  const deployment = (name: string) => env.admin.get<Deployment>(Deployments, ns, name);
  const revisions = async (name: string) =>
    (await env.admin.list<{ metadata: { name: string } }>(Secrets, ns, { query: { labelSelector: `owner=helm,name=${name}` } })).items.map((s) => s.metadata.name).sort();
  const within = async <T>(fn: () => Promise<T | undefined | false>, what: string, ms = 20_000) => {
    const started = Date.now();
    const v = await waitFor(fn, { what, timeoutMs: ms, intervalMs: 200 });
    return { v, seconds: (Date.now() - started) / 1000 };
  };

  it("mode enabled: scale, edit and delete of release objects are corrected within seconds; ignored fields stay", async () => {
    await env.admin.create(
      HelmReleases,
      ns,
      release("fixed", { mode: "enabled", ignore: [{ paths: ["/spec/ports"], target: { kind: "Service" } }] }),
    );
    await waitForRelease(env.admin, ns, "fixed", (r) => condition(r, "Ready")?.status === "True", "HelmRelease fixed Ready", 180_000);
    assert.equal((await deployment("fixed")).spec.replicas, 0);
    // The first reconcile recorded the objects' baselines; give the drift informers a moment to list them.
    await new Promise((r) => setTimeout(r, 2_000));

    // scale
    await env.admin.patch(Deployments, ns, "fixed", { spec: { replicas: 3 } });
    const scaled = await within(async () => (await deployment("fixed")).spec.replicas === 0, "scaled Deployment back at 0 replicas");
    // edit
    await env.admin.patch(Deployments, ns, "fixed", { spec: { template: { spec: { containers: [{ name: "app", image: "example.test/other:9" }] } } } }, { contentType: "application/strategic-merge-patch+json" });
    const edited = await within(async () => (await deployment("fixed")).spec.template.spec.containers[0]!.image === "ghcr.io/mooring/demo-app:1.0.0", "edited image restored");
    // delete
    await env.admin.delete(ServiceAccounts, ns, "fixed");
    const deleted = await within(async () => {
      try {
        const sa = await env.admin.get<{ metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } }>(ServiceAccounts, ns, "fixed");
        return sa;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    }, "deleted ServiceAccount recreated");
    // The recreated object is still the release's (Helm's ownership metadata and the HelmRelease labels).
    assert.equal(deleted.v.metadata.labels?.["app.kubernetes.io/managed-by"], "Helm");
    assert.equal(deleted.v.metadata.annotations?.["meta.helm.sh/release-name"], "fixed");
    assert.equal(deleted.v.metadata.labels?.["helm.toolkit.fluxcd.io/name"], "fixed");
    for (const [what, r] of [["scale", scaled], ["edit", edited], ["delete", deleted]] as const) assert.ok(r.seconds < 15, `${what} corrected in ${r.seconds}s`);

    // An ignored field (Service ports) is left as changed, while a Deployment change at the same time is corrected.
    await env.admin.patch(Services, ns, "fixed", { spec: { ports: [{ port: 8080, targetPort: 9898 }] } });
    await env.admin.patch(Deployments, ns, "fixed", { spec: { replicas: 2 } });
    await within(async () => (await deployment("fixed")).spec.replicas === 0, "Deployment corrected again");
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal((await env.admin.get<Service>(Services, ns, "fixed")).spec.ports[0]!.port, 8080, "the ignored field stays as changed");

    assert.deepEqual(await revisions("fixed"), ["sh.helm.release.v1.fixed.v1"], "drift correction writes no new release revision");
    const events = (await env.admin.list<EventObj>(Events, ns)).items.filter((e) => e.involvedObject.kind === "HelmRelease" && e.involvedObject.name === "fixed" && e.reason === "DriftDetected");
    assert.ok(events.some((e) => e.type === "Normal" && /Deployment\/.*\/fixed \(modified\)/.test(e.message)), JSON.stringify(events));
    assert.ok(events.some((e) => /ServiceAccount\/.*\/fixed \(deleted\)/.test(e.message)), JSON.stringify(events));
  });

  it("mode warn: drift yields a Warning event and is not corrected", async () => {
    await env.admin.create(HelmReleases, ns, release("warned", { mode: "warn" }));
    await waitForRelease(env.admin, ns, "warned", (r) => condition(r, "Ready")?.status === "True", "HelmRelease warned Ready", 180_000);
    await new Promise((r) => setTimeout(r, 2_000));
    await env.admin.patch(Deployments, ns, "warned", { spec: { replicas: 3 } });
    const ev = await within(
      async () => (await env.admin.list<EventObj>(Events, ns)).items.find((e) => e.involvedObject.name === "warned" && e.reason === "DriftDetected"),
      "DriftDetected event for warned",
    );
    assert.equal(ev.v.type, "Warning");
    assert.match(ev.v.message, /Deployment\/.*\/warned \(modified\)/);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal((await deployment("warned")).spec.replicas, 3, "warn leaves the drift in place");
  });

  it("mode disabled (the default): drift stays", async () => {
    const hr = release("plain", { mode: "disabled" });
    await env.admin.create(HelmReleases, ns, hr);
    await waitForRelease(env.admin, ns, "plain", (r) => condition(r, "Ready")?.status === "True", "HelmRelease plain Ready", 180_000);
    await env.admin.patch(Deployments, ns, "plain", { spec: { replicas: 2 } });
    await new Promise((r) => setTimeout(r, 4_000));
    assert.equal((await deployment("plain")).spec.replicas, 2);
  });
});
