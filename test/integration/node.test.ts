// The real node runs pods: IPs from the pod range, probes, Services from the host and from pods, cluster DNS,
// ServiceAccount tokens; pods reach nothing beyond the node and the host.
import { strict as assert } from "node:assert";
import * as http from "node:http";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { newNamespace, testKubeConfig, testProgramImage, testRealNode, waitFor } from "../harness/cluster";
import type { RealNode } from "../../local/controlplane";
import { overlaps } from "../../local/network";

const image = "mooring.local/nodecheck:1";

function httpGet(url: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
  });
}

function container(env: Record<string, string> = {}): k8s.V1Container {
  return {
    name: "app",
    image,
    imagePullPolicy: "Never",
    ports: [{ containerPort: 8080 }],
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    readinessProbe: { httpGet: { path: "/ready", port: 8080 }, periodSeconds: 1 },
  };
}

function isReady(p: k8s.V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

describe("the real node", { timeout: 300_000 }, () => {
  let node: RealNode | undefined;
  let core: k8s.CoreV1Api;
  let namespace: string;
  let webIps: string[] = [];
  let serviceIp = "";
  let probePod = "";

  before(async () => {
    node = await testRealNode();
    if (!node) return;
    core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
    await testProgramImage("nodecheck", image);
    namespace = await newNamespace("node");
  });

  after(async () => {
    if (namespace) await core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  test("runs a Deployment's pods with IPs from the pod range; a failing readiness probe keeps a pod out of its Service", async (t) => {
    if (!node) return t.skip("the test cluster has no real node");
    const apps = testKubeConfig().makeApiClient(k8s.AppsV1Api);
    const labels = { app: "web" };
    const applied = Date.now();
    await apps.createNamespacedDeployment({
      namespace,
      body: { metadata: { name: "web" }, spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [container()] } } } },
    });
    await core.createNamespacedPod({ namespace, body: { metadata: { name: "lame", labels }, spec: { containers: [container({ NOT_READY: "1" })] } } });
    const svc = await core.createNamespacedService({ namespace, body: { metadata: { name: "web" }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } } });
    serviceIp = svc.spec!.clusterIP!;
    const ready = await waitFor(
      async () => {
        const pods = (await core.listNamespacedPod({ namespace, labelSelector: "app=web" })).items.filter((p) => p.metadata?.name !== "lame");
        return pods.length === 2 && pods.every(isReady) ? pods : undefined;
      },
      { what: "2 web pods Ready", timeoutMs: 60_000, intervalMs: 100 },
    );
    t.diagnostic(`pod start (create → 2 pods Ready): ${((Date.now() - applied) / 1000).toFixed(1)} s`);
    webIps = ready.map((p) => p.status!.podIP!);
    for (const ip of webIps) assert.ok(overlaps(`${ip}/32`, node.podCidr), `pod IP ${ip} in ${node.podCidr}`);
    probePod = ready[0]!.metadata!.name!;

    const lame = await waitFor(
      async () => {
        const p = await core.readNamespacedPod({ namespace, name: "lame" });
        return p.status?.phase === "Running" && p.status.containerStatuses?.[0]?.started ? p : undefined;
      },
      { what: "pod lame running", timeoutMs: 60_000 },
    );
    // Its probe has failed several times by now (period 1 s): still not Ready, and not behind the Service.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(isReady(await core.readNamespacedPod({ namespace, name: "lame" })), false);
    const discovery = testKubeConfig().makeApiClient(k8s.DiscoveryV1Api);
    const endpoints = await waitFor(
      async () => {
        const slices = await discovery.listNamespacedEndpointSlice({ namespace, labelSelector: "kubernetes.io/service-name=web" });
        const ready = slices.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses));
        return ready.length === 2 ? ready : undefined;
      },
      { what: "2 ready endpoints of Service web" },
    );
    assert.deepEqual([...endpoints].sort(), [...webIps].sort());
    assert.ok(!endpoints.includes(lame.status!.podIP!));
  });

  test("a Service routes from the host and, by its DNS name, from a pod", async (t) => {
    if (!node || !serviceIp) return t.skip("needs the real node and the web Service");
    const fromHost = await waitFor(() => httpGet(`http://${serviceIp}/`).then((r) => (r.status === 200 ? r : undefined)), { what: `GET http://${serviceIp}/ from the host` });
    assert.match(fromHost.body, /^hello from web-/);
    const viaPod = await waitFor(
      async () => {
        const r = await httpGet(`http://${webIps[0]}:8080/get?url=${encodeURIComponent(`http://web.${namespace}.svc.cluster.local/`)}`);
        return r.status === 200 ? (JSON.parse(r.body) as { status: number; body: string }) : undefined;
      },
      { what: "GET of the Service's DNS name from a pod" },
    );
    assert.equal(viaPod.status, 200);
    assert.match(viaPod.body, /^hello from web-/);
  });

  test("cluster DNS resolves kubernetes.default.svc.cluster.local and a short Service name, and nothing outside the cluster", async (t) => {
    if (!node || !serviceIp) return t.skip("needs the real node and the web Service");
    const resolve = async (name: string) => httpGet(`http://${webIps[0]}:8080/resolve?name=${encodeURIComponent(name)}`);
    const kubernetes = await resolve("kubernetes.default.svc.cluster.local");
    assert.equal(kubernetes.status, 200, kubernetes.body);
    const kubernetesIp = (JSON.parse(kubernetes.body) as { addresses: string[] }).addresses;
    assert.equal(kubernetesIp.length, 1);
    assert.ok(overlaps(`${kubernetesIp[0]}/32`, node.serviceCidr), `${kubernetesIp[0]} in ${node.serviceCidr}`);
    const web = await resolve("web");
    assert.equal(web.status, 200, web.body);
    assert.deepEqual((JSON.parse(web.body) as { addresses: string[] }).addresses, [serviceIp]);
    const outside = await resolve("example.com");
    assert.notEqual(outside.status, 200, `example.com must not resolve: ${outside.body}`);
  });

  test("a pod's ServiceAccount token is mounted and the apiserver accepts it", async (t) => {
    if (!node || !probePod) return t.skip("needs the real node and a web pod");
    const r = await httpGet(`http://${webIps[0]}:8080/whoami`);
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { username: string }).username, `system:serviceaccount:${namespace}:default`);
  });

  test("pods have no route beyond the node and the host", async (t) => {
    if (!node || !probePod) return t.skip("needs the real node and a web pod");
    // Without a route the connect fails in the pod itself: nothing is sent.
    const r = await httpGet(`http://${webIps[0]}:8080/get?url=${encodeURIComponent("http://192.0.2.1/")}`);
    assert.equal(r.status, 502);
    assert.match(r.body, /network is unreachable/);
  });
});
