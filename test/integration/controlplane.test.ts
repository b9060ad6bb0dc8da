// The local control plane is a real Kubernetes: controllers run Deployments, RBAC denies, kwok nodes run pods.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { isStatus, newNamespace, serviceAccountKubeconfig, testKubeConfig, waitFor } from "../harness/cluster";
import { down, up } from "../../local/controlplane";
import { processArgv } from "../../local/processes";
import { toolPath } from "../../local/tools";

function deployment(name: string, replicas: number): k8s.V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      // On kwok's fake nodes: the image is never pulled there (the real node could not pull it).
      template: { metadata: { labels }, spec: { nodeSelector: { type: "kwok" }, containers: [{ name: "app", image: "registry.example/app:1" }] } },
    },
  };
}

async function waitAvailable(apps: k8s.AppsV1Api, namespace: string, name: string, replicas: number): Promise<k8s.V1Deployment> {
  return waitFor(
    async () => {
      const d = await apps.readNamespacedDeployment({ name, namespace });
      const available = d.status?.conditions?.some((c) => c.type === "Available" && c.status === "True");
      const observed = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1);
      return available && observed && (d.status?.availableReplicas ?? 0) === replicas ? d : undefined;
    },
    { what: `Deployment ${namespace}/${name} Available with ${replicas} replica(s)`, timeoutMs: 60_000, intervalMs: 200 },
  );
}

describe("the shared control plane", () => {
  test("a Deployment with 0 replicas becomes Available (controller-manager runs)", { timeout: 90_000 }, async (t) => {
    const namespace = await newNamespace(t);
    const apps = testKubeConfig().makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({ namespace, body: deployment("empty", 0) });
    const d = await waitAvailable(apps, namespace, "empty", 0);
    assert.equal(d.status?.replicas ?? 0, 0);
  });

  test("a ServiceAccount without rights is denied (403) a create", { timeout: 60_000 }, async (t) => {
    const namespace = await newNamespace(t);
    const { kubeConfig, path: file } = await serviceAccountKubeconfig({ namespace, name: "nobody" });
    t.after(() => fs.rm(path.dirname(file), { recursive: true, force: true }));
    const asNobody = kubeConfig.makeApiClient(k8s.CoreV1Api);
    await assert.rejects(
      asNobody.createNamespacedConfigMap({ namespace, body: { metadata: { name: "forbidden" }, data: { a: "b" } } }),
      (err: unknown) => isStatus(err, 403),
    );
    // The same request as admin succeeds: the 403 is RBAC, not a broken request or a bad token (that is 401).
    const admin = testKubeConfig().makeApiClient(k8s.CoreV1Api);
    await admin.createNamespacedConfigMap({ namespace, body: { metadata: { name: "allowed" }, data: { a: "b" } } });
    const review = await kubeConfig.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(review.status?.userInfo?.username, `system:serviceaccount:${namespace}:nobody`);
  });

  test("with one kwok node a Deployment with 2 replicas becomes Available", { timeout: 90_000 }, async (t) => {
    const namespace = await newNamespace(t);
    const kc = testKubeConfig();
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({ namespace, body: deployment("two", 2) });
    await waitAvailable(apps, namespace, "two", 2);
    const pods = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace, labelSelector: "app=two" });
    assert.equal(pods.items.length, 2);
    for (const p of pods.items) {
      assert.equal(p.spec?.nodeName, "kwok-node-0", `pod ${p.metadata?.name} scheduled on the kwok node`);
      assert.equal(p.status?.phase, "Running");
    }
  });

  test("a kwok node heartbeats through its Lease well inside the node controller's grace, so it never turns NotReady", { timeout: 60_000 }, async () => {
    const kc = testKubeConfig();
    const leases = kc.makeApiClient(k8s.CoordinationV1Api);
    const renewed = async (): Promise<number> => {
      const lease = await leases.readNamespacedLease({ name: "kwok-node-0", namespace: "kube-node-lease" });
      return new Date(lease.spec?.renewTime ?? 0).getTime();
    };
    // The node controller's grace is 50 s; a kubelet renews every 10 s. Two renewals within 35 s.
    const first = await renewed();
    const after = (since: number) => async () => {
      const at = await renewed();
      return at > since ? at : undefined;
    };
    const second = await waitFor(after(first), { what: "a first renewal", timeoutMs: 20_000, intervalMs: 500 });
    await waitFor(after(second), { what: "a second renewal", timeoutMs: 20_000, intervalMs: 500 });
    const node = await kc.makeApiClient(k8s.CoreV1Api).readNode({ name: "kwok-node-0" });
    assert.equal(node.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
    assert.deepEqual(node.spec?.taints ?? [], [], "no not-ready/unreachable taint");
  });

  test("up on the running directory reuses it", { timeout: 30_000 }, async () => {
    const dir = process.env.MOORING_TEST_DIR;
    assert.ok(dir, "MOORING_TEST_DIR is set by scripts/test.js");
    const started = Date.now();
    const cp = await up({ dir });
    const ms = Date.now() - started;
    assert.equal(cp.reused, true);
    assert.equal(cp.kubeconfigPath, process.env.MOORING_TEST_KUBECONFIG);
    assert.ok(ms < 5_000, `reuse took ${ms} ms`);
  });
});

function kubectl(args: string[]): Promise<string> {
  return toolPath("kubectl").then(
    (bin) =>
      new Promise((resolve, reject) =>
        execFile(bin, args, { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))),
      ),
  );
}

test("up in a fresh directory is ready for kubectl; down stops every process and removes the state", { timeout: 180_000 }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-cp-"));
  t.after(async () => {
    await down({ dir }).catch(() => {});
    await fs.rm(dir, { recursive: true, force: true });
  });
  const cp = await up({ dir, nodes: 0, realNode: false });
  assert.equal(cp.reused, false);
  assert.deepEqual(cp.components.map((c) => c.name), ["etcd", "kube-apiserver", "kube-controller-manager"]);
  assert.equal((await kubectl(["--kubeconfig", path.join(dir, "kubeconfig"), "get", "--raw", "/readyz"])).trim(), "ok");
  for (const c of cp.components) assert.ok(await processArgv(c.pid), `${c.name} (pid ${c.pid}) runs`);

  const { stopped } = await down({ dir });
  assert.deepEqual([...stopped].sort(), ["etcd", "kube-apiserver", "kube-controller-manager"]);
  for (const c of cp.components) assert.equal(await processArgv(c.pid), undefined, `${c.name} (pid ${c.pid}) is gone`);
  await assert.rejects(fs.access(path.join(dir, "state.json")), "state.json removed");
  await assert.rejects(fs.access(path.join(dir, "kubeconfig")), "kubeconfig removed");
});
