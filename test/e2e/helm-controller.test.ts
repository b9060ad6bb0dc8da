// The helm-controller as users run it: the install's Deployment from the controllers image built offline, on
// the real node, with its own ServiceAccount and RBAC; the Helm helper inside the image runs the release,
// its hook Job and test Pod on the node.
import { after, before, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KubeClient, type ResourceRef } from "../../controllers/runtime/kube";
import type { HelmRelease } from "../../controllers/api";
import { installObjects } from "../../provider/impl/render";
import { toYamlStream } from "../../bootstrap/manifests/objects";
import { ensureControllersImage } from "../../local/image";
import { importImage } from "../../local/nodeimages";
import { projectRoot, toolPath } from "../../local/tools";
import { testClusterDir, testKubeConfig, waitFor } from "../harness/cluster";
import { realNodeTarget } from "./pods";
import { HelmReleases, Pods, condition, packageChart, startChartServer, waitForRelease, type ChartServer } from "../integration/helm/env";

const Deployments: ResourceRef = { kind: "Deployment", group: "apps", version: "v1", plural: "deployments", namespaced: true };
const Namespaces: ResourceRef = { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false };
const pkg = JSON.parse(readFileSync(path.join(projectRoot(), "package.json"), "utf8")) as { version: string };

function kubectl(args: string[], input?: string): Promise<string> {
  return toolPath("kubectl").then(
    (bin) =>
      new Promise((resolve, reject) => {
        const child = execFile(bin, ["--kubeconfig", process.env.MOORING_TEST_KUBECONFIG!, ...args], { maxBuffer: 16 << 20, timeout: 120_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr}`)) : resolve(stdout),
        );
        if (input !== undefined) child.stdin!.end(input);
      }),
  );
}

let skip: string | undefined;
let charts: ChartServer | undefined;
let chartDir = "";
const system = `helm-e2e-system-${Date.now().toString(36)}`;
const apps = `helm-e2e-apps-${Date.now().toString(36)}`;

before(async () => {
  const node = await realNodeTarget();
  if (typeof node === "string") {
    skip = node;
    return;
  }
  const image = await ensureControllersImage();
  await importImage(testClusterDir(), image.archive);
  charts = await startChartServer(node.nodeAddress);
  chartDir = await fs.mkdtemp(path.join(os.tmpdir(), "helm-e2e-"));
});

after(async () => {
  await charts?.close();
  if (chartDir) await fs.rm(chartDir, { recursive: true, force: true });
  const admin = new KubeClient(testKubeConfig());
  for (const ns of [apps, system]) await admin.delete(Namespaces, undefined, ns).catch(() => undefined);
});

it("helm-controller runs as a pod from the image and installs a chart whose hook and test pods run on the node", { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const admin = new KubeClient(testKubeConfig());
  const objects = installObjects({ version: pkg.version, namespace: system, controllers: ["helm"], networkPolicy: false });
  await kubectl(["apply", "--server-side", "--field-manager=mooring-test", "-f", "-"], toYamlStream(objects));
  await waitFor(async () => {
    const d = await admin.get<{ status?: { readyReplicas?: number } }>(Deployments, system, "helm-controller");
    return d.status?.readyReplicas === 1;
  }, { what: "helm-controller Deployment ready", timeoutMs: 180_000 });
  await admin.create(Namespaces, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: apps } });
  const chart = await packageChart("mooring-demo", chartDir);
  await charts!.publish(admin, apps, "demo", chart, "0.1.0");
  const hr: HelmRelease = {
    apiVersion: "helm.toolkit.fluxcd.io/v2",
    kind: "HelmRelease",
    metadata: { name: "demo", namespace: apps },
    spec: { interval: "10m", chartRef: { kind: "HelmChart", name: "demo" }, values: { message: "from a pod" }, test: { enable: true }, timeout: "3m" },
  };
  await admin.create(HelmReleases, apps, hr);
  const ready = await waitForRelease(admin, apps, "demo", (r) => condition(r, "Ready")?.status === "True", "HelmRelease Ready via the in-cluster helm-controller", 300_000);
  assert.equal(condition(ready, "Released")?.reason, "InstallSucceeded");
  assert.equal(condition(ready, "TestSuccess")?.status, "True");
  const testPod = await admin.get<{ status?: { phase?: string } }>(Pods, apps, "demo-demo-test");
  assert.equal(testPod.status?.phase, "Succeeded");
  const pods = await admin.list<{ metadata: { name: string }; spec: { nodeName?: string } }>(Pods, system, { query: { labelSelector: "app=helm-controller" } });
  assert.equal(pods.items.length, 1);
  assert.ok(pods.items[0]!.spec.nodeName, "the controller pod is scheduled on the node");
});
