import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { networkOf } from "../../../local/network";
import { cniConflist, containerdConfig, corednsObjects, kubeletArgs, kubeletConfig, kubeProxyConfig, nodeLayout, pauseImage } from "../../../local/nodeconfig";
import { aptInstallCommand, checkNodePrerequisites } from "../../../local/prereqs";
import { parseMountinfo } from "../../../local/node";

const l = nodeLayout("/d");
const n = networkOf(9);

describe("the real node's configuration", () => {
  test("containerd keeps its root, state, sockets and runc state under the directory", () => {
    const toml = containerdConfig(l);
    for (const p of [l.containerdRoot, l.containerdState, l.containerdSocket, `${l.containerdSocket}.ttrpc`, l.runcRoot, l.cniConfDir]) assert.ok(toml.includes(JSON.stringify(p)), p);
    assert.match(toml, /restrict_oom_score_adj = true/);
    assert.match(toml, /SystemdCgroup = false/);
    assert.ok(toml.includes(`sandbox_image = ${JSON.stringify(pauseImage)}`));
  });

  test("pods get routes to Services and the host only: no default route, no masquerade", () => {
    const conf = JSON.parse(cniConflist(l, n)) as { plugins: { type: string; isDefaultGateway?: boolean; ipMasq?: boolean; ipam?: { routes: { dst: string }[]; ranges: { subnet: string }[][] } }[] };
    const bridge = conf.plugins.find((p) => p.type === "bridge")!;
    assert.equal(bridge.isDefaultGateway, false);
    assert.equal(bridge.ipMasq, false);
    assert.deepEqual(bridge.ipam!.routes.map((r) => r.dst), [n.serviceCidr, `${n.hostAddress}/32`]);
    assert.ok(!bridge.ipam!.routes.some((r) => r.dst === "0.0.0.0/0"));
    assert.equal(bridge.ipam!.ranges[0]![0]!.subnet, n.podCidr);
  });

  test("the kubelet: cgroupfs, cgroup v1 and swap allowed, cluster DNS, no upstream resolver, own dirs", () => {
    const c = JSON.parse(kubeletConfig(l, n, "/d/pki/ca.crt")) as Record<string, unknown>;
    assert.equal(c.cgroupDriver, "cgroupfs");
    assert.equal(c.failCgroupV1, false);
    assert.equal(c.failSwapOn, false);
    assert.deepEqual(c.clusterDNS, [n.dnsIp]);
    assert.equal(c.resolvConf, l.resolvConf);
    assert.equal(c.podLogsDir, l.podLogsDir);
    assert.equal(c.containerRuntimeEndpoint, `unix://${l.containerdSocket}`);
    const args = kubeletArgs(l, n, "/d/kubeconfigs/kubelet.kubeconfig");
    assert.ok(args.includes(`--root-dir=${l.kubeletRoot}`));
    assert.ok(args.includes(`--cert-dir=${l.kubeletCertDir}`));
    assert.ok(args.includes(`--node-ip=${n.nodeIp}`));
  });

  test("kube-proxy runs in iptables mode for the pod range and leaves machine-wide conntrack alone", () => {
    const c = JSON.parse(kubeProxyConfig(n, "/k")) as { mode: string; clusterCIDR: string; conntrack: { maxPerCore: number } };
    assert.equal(c.mode, "iptables");
    assert.equal(c.clusterCIDR, n.podCidr);
    assert.equal(c.conntrack.maxPerCore, 0);
  });

  test("CoreDNS serves cluster.local behind kube-dns at the tenth Service address, with no upstream", () => {
    const objs = corednsObjects(n) as { kind: string; metadata: { name: string; namespace?: string }; spec?: { clusterIP?: string }; data?: { Corefile: string } }[];
    const svc = objs.find((o) => o.kind === "Service")!;
    assert.equal(svc.metadata.name, "kube-dns");
    assert.equal(svc.metadata.namespace, "kube-system");
    assert.equal(svc.spec!.clusterIP, n.dnsIp);
    const corefile = objs.find((o) => o.kind === "ConfigMap")!.data!.Corefile;
    assert.match(corefile, /kubernetes cluster\.local in-addr\.arpa ip6\.arpa/);
    assert.doesNotMatch(corefile, /forward|proxy/);
  });
});

describe("prerequisites and mounts", () => {
  test("missing packages are named in one apt-get command", () => {
    assert.equal(aptInstallCommand(["containerd", "runc", "containerd"]), "apt-get install -y containerd runc");
  });

  test("a machine without containerd and the CNI plugins is told the exact apt-get command", async () => {
    const absent = new Set(["/usr/bin/containerd", "/usr/lib/cni/bridge"]);
    const r = await checkNodePrerequisites(async (f) => !absent.has(f));
    assert.equal(r.ok, false);
    assert.deepEqual(r.missingPackages, ["containerd", "containernetworking-plugins"]);
    assert.ok(r.reasons.includes("install with: apt-get install -y containerd containernetworking-plugins"), r.reasons.join("\n"));
    assert.ok(r.reasons.some((x) => x.startsWith("containerd is missing (/usr/bin/containerd)")));
  });

  test("mountinfo lines give mount points (unescaped), roots and types", () => {
    const text = [
      "36 25 0:4 net:[4026532281] /run/netns/cni-1 rw shared:5 - nsfs nsfs rw",
      "40 30 0:50 / /d/node/kubelet/pods/x/volumes/kubernetes.io\\040projected/t rw,relatime - tmpfs tmpfs rw",
    ].join("\n");
    assert.deepEqual(parseMountinfo(text), [
      { root: "net:[4026532281]", mountPoint: "/run/netns/cni-1", fsType: "nsfs" },
      { root: "/", mountPoint: "/d/node/kubelet/pods/x/volumes/kubernetes.io projected/t", fsType: "tmpfs" },
    ]);
  });
});
