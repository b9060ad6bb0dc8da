// The offline images on the test cluster's real node: the example fleet's app, rendered from examples/fleet
// by the pinned kustomize, runs from the demo app image (probes, read-only root, non-root) and serves its page
// through its Service's DNS name; the controllers image's entrypoint runs under the install's restrictions.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import * as YAML from "yaml";
import { newNamespace, testClusterDir, testKubeConfig, testRealNode, waitFor } from "../harness/cluster";
import { ensureControllersImage, ensureDemoAppImage } from "../../local/image";
import { importImage } from "../../local/nodeimages";
import { projectRoot, toolPath } from "../../local/tools";

const run = promisify(execFile);
/** The label the real node carries (kwok nodes lack it). */
const onRealNode = { type: "real" };

describe("the offline images on the real node", { timeout: 20 * 60_000 }, () => {
  let hasNode = false;
  let core: k8s.CoreV1Api;
  let namespace: string;
  let kubectl: string;
  const kubeconfig = process.env.MOORING_TEST_KUBECONFIG ?? "";

  before(async () => {
    hasNode = (await testRealNode()) !== undefined;
    if (!hasNode) return;
    core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
    kubectl = await toolPath("kubectl");
    for (const image of [await ensureDemoAppImage(), await ensureControllersImage()]) await importImage(testClusterDir(), image.archive);
    namespace = await newNamespace("images");
  });

  after(async () => {
    if (namespace) await core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  test("the example fleet's app runs from the demo app image and serves its page", async (t) => {
    if (!hasNode) return t.skip("the test cluster has no real node");
    const overlay = path.join(projectRoot(), "examples", "fleet", "apps", "overlays", "local");
    const built = (await run(await toolPath("kustomize"), ["build", overlay], { maxBuffer: 16 << 20 })).stdout;
    // The test cluster may run kwok nodes beside the real one: pin the app's pods to the real node.
    type Doc = { kind?: string; spec?: { template?: { spec?: { nodeSelector?: Record<string, string> } } } };
    const docs = YAML.parseAllDocuments(built.replace(/^(\s+)namespace: podinfo$/gm, `$1namespace: ${namespace}`)).map((d) => d.toJS() as Doc);
    for (const d of docs) {
      const pod = d.kind === "Deployment" ? d.spec?.template?.spec : undefined;
      if (pod) pod.nodeSelector = { ...pod.nodeSelector, ...onRealNode };
    }
    const manifests = docs.map((d) => YAML.stringify(d)).join("---\n");
    const applied = Date.now();
    await new Promise<void>((resolve, reject) => {
      const child = execFile(kubectl, ["--kubeconfig", kubeconfig, "apply", "-f", "-"], (err, _o, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve()));
      child.stdin!.end(manifests);
    });
    const pods = await waitFor(
      async () => {
        const items = (await core.listNamespacedPod({ namespace, labelSelector: "app=podinfo" })).items;
        const ready = items.filter((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
        return ready.length === 2 ? ready : undefined;
      },
      { what: "2 podinfo pods Ready", timeoutMs: 120_000, intervalMs: 200 },
    );
    t.diagnostic(`demo app: apply → 2 pods Ready in ${((Date.now() - applied) / 1000).toFixed(1)} s`);
    assert.equal(pods[0]!.spec!.containers[0]!.image, "ghcr.io/mooring/demo-app:1.0.0");
    const fetchPage = `fetch("http://podinfo.${namespace}.svc.cluster.local:9898/").then(async (r) => console.log(r.status, await r.text()))`;
    // kube-proxy programs a new Service's rules within a moment of its endpoints: ask until they are there.
    const stdout = await waitFor(
      async () => {
        const r = await run(kubectl, ["--kubeconfig", kubeconfig, "-n", namespace, "exec", pods[0]!.metadata!.name!, "--", "node", "-e", fetchPage], { timeout: 60_000 }).catch(() => undefined);
        return r?.stdout;
      },
      { what: "the page through the Service's DNS name", timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.match(stdout, /^200 /);
    assert.match(stdout, /<h1>hello from the local fleet<\/h1>/, "the message from the overlay's configMapGenerator");
  });

  test("the controllers image's entrypoint runs non-root on a read-only root filesystem, all capabilities dropped", async (t) => {
    if (!hasNode) return t.skip("the test cluster has no real node");
    const image = await ensureControllersImage();
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "controllers-help" },
        spec: {
          restartPolicy: "Never",
          nodeSelector: onRealNode,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "manager",
              image: image.ref,
              imagePullPolicy: "IfNotPresent",
              args: ["--help"],
              securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
              volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
            },
          ],
          volumes: [{ name: "tmp", emptyDir: {} }],
        },
      },
    });
    const pod = await waitFor(
      async () => {
        const p = await core.readNamespacedPod({ namespace, name: "controllers-help" });
        return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : undefined;
      },
      { what: "the controllers-help pod to finish", timeoutMs: 120_000, intervalMs: 200 },
    );
    const logs = await core.readNamespacedPodLog({ namespace, name: "controllers-help" });
    assert.equal(pod.status?.phase, "Succeeded", logs);
    assert.match(logs, /node dist\/controllers\/main\.js \[flags\]/);
  });
});
