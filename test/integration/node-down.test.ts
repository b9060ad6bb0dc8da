// `down` of a cluster with a real node leaves nothing on the machine: no containers, shims, mounts, network
// namespaces, interfaces, iptables rules or cgroups. Checked by listing them before `up`, while pods run,
// and after `down`.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { testProgramImage, waitFor } from "../harness/cluster";
import { down, up } from "../../local/controlplane";
import { networkOf } from "../../local/network";
import { checkNodePrerequisites } from "../../local/prereqs";

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${stderr || err.message}`)) : resolve(stdout))));
}

/** What a node can leave on the machine, one string per item. */
async function machine(dir: string): Promise<Record<string, string[]>> {
  const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);
  const mounts = lines(await fs.readFile("/proc/self/mountinfo", "utf8")).map((l) => l.split(" ").slice(3, 5).join(" "));
  const procs: string[] = [];
  for (const name of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await fs.readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "")).split("\0").join(" ");
    if (argv.includes(dir) || /containerd-shim/.test(argv)) procs.push(`${name} ${argv}`);
  }
  const cgroups: string[] = [];
  for (const h of await fs.readdir("/sys/fs/cgroup").catch(() => [] as string[])) {
    for (const e of await fs.readdir(path.join("/sys/fs/cgroup", h)).catch(() => [] as string[])) if (e.startsWith("mooring-")) cgroups.push(`${h}/${e}`);
  }
  return {
    interfaces: lines(await sh("ip", ["-o", "link", "show"])).map((l) => l.split(":")[1]!.trim().split("@")[0]!),
    netns: await fs.readdir("/run/netns").catch(() => []),
    iptables: lines(await sh("iptables-save", [])).filter((l) => !l.startsWith("#") && !/^:/.test(l)),
    routes: lines(await sh("ip", ["-4", "route", "show", "table", "all"])),
    mounts,
    processes: procs,
    cgroups,
    logLinks: (await fs.readdir("/var/log/containers").catch(() => [] as string[])).sort(),
  };
}

/** Items in `now` that `before` did not have. */
function added(before: Record<string, string[]>, now: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, items] of Object.entries(now)) {
    const had = new Set(before[k]);
    const extra = items.filter((i) => !had.has(i));
    if (extra.length) out[k] = extra;
  }
  return out;
}

test("down after pods ran leaves no containers, shims, mounts, namespaces, interfaces, iptables rules or cgroups", { timeout: 300_000 }, async (t) => {
  if (!(await checkNodePrerequisites()).ok) return t.skip("this machine cannot run the real node");
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-node-"));
  t.after(async () => {
    await down({ dir }).catch(() => {});
    await fs.rm(dir, { recursive: true, force: true });
  });
  const before = await machine(dir);
  const started = Date.now();
  const cp = await up({ dir, realNode: true, timeoutMs: 180_000 });
  t.diagnostic(`local up with a real node: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(cp.realNode && cp.nodeAddress, "a real node");
  const n = networkOf(Number(cp.realNode.netns.replace("mooring-", "")));
  assert.equal(cp.nodeAddress, n.hostAddress);

  // A pod with a projected token and an emptyDir: mounts of its own besides the rootfs and the sandbox.
  const image = await testProgramImage("nodecheck", "mooring.local/nodecheck:1", dir);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedPod({
    namespace: "default",
    body: {
      metadata: { name: "leftover-check" },
      spec: {
        containers: [{ name: "app", image, imagePullPolicy: "Never", volumeMounts: [{ name: "scratch", mountPath: "/scratch" }] }],
        volumes: [{ name: "scratch", emptyDir: {} }],
      },
    },
  });
  await waitFor(async () => (await core.readNamespacedPod({ namespace: "default", name: "leftover-check" })).status?.phase === "Running", {
    what: "pod leftover-check Running",
    timeoutMs: 60_000,
  });

  const during = added(before, await machine(dir));
  // The listing sees what the node made, so its absence after down means something.
  assert.ok(during.interfaces?.includes(n.hostInterface), `interface ${n.hostInterface} while up: ${JSON.stringify(during.interfaces)}`);
  assert.ok(during.netns?.includes(n.netns), "the node's network namespace while up");
  assert.ok(during.netns?.some((x) => x.startsWith("cni-")), "a pod network namespace while up");
  assert.ok(during.iptables?.some((l) => l.includes(`MOORING-${n.slot}`)), "host guard rules while up");
  assert.ok(during.processes?.some((p) => p.includes("containerd-shim")), "a containerd shim while up");
  assert.ok(during.mounts?.some((m) => m.includes(dir)), "mounts under the directory while up");
  assert.ok(during.cgroups?.length, "cgroups while up");

  const { stopped, leftovers } = await down({ dir });
  assert.deepEqual(leftovers, []);
  assert.ok(stopped.includes("containerd") && stopped.includes("kubelet") && stopped.includes("kube-proxy"), stopped.join(","));
  const after = added(before, await machine(dir));
  assert.deepEqual(after, {}, `left on the machine after down: ${JSON.stringify(after, null, 2)}`);
});

test("up without a real node (kwok only) starts no node parts", { timeout: 120_000 }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-kwok-"));
  t.after(async () => {
    await down({ dir }).catch(() => {});
    await fs.rm(dir, { recursive: true, force: true });
  });
  const cp = await up({ dir, realNode: false, nodes: 1 });
  assert.equal(cp.realNode, undefined);
  assert.equal(cp.nodeAddress, undefined);
  assert.deepEqual(cp.nodeNames, ["kwok-node-0"]);
  assert.ok(!cp.components.some((c) => ["containerd", "kubelet", "kube-proxy"].includes(c.name)));
  assert.match(cp.apiserverUrl, /^https:\/\/127\.0\.0\.1:/);
});
