import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { parseState, renderState, StateError, type ControlPlaneState } from "../../../local/state";

const good: ControlPlaneState = {
  version: 1,
  apiserverUrl: "https://127.0.0.1:40123",
  nodes: 1,
  components: [
    { name: "etcd", binary: "/cache/etcd", pid: 101, ports: { client: 40001, peer: 40002 }, log: "/d/logs/etcd.log", startedAt: "2025-01-01T00:00:00.000Z" },
    { name: "kube-apiserver", binary: "/cache/kube-apiserver", pid: 102, ports: { secure: 40123 }, log: "/d/logs/kube-apiserver.log", startedAt: "2025-01-01T00:00:00.000Z" },
  ],
};

describe("state file", () => {
  test("round-trips what up records", () => {
    assert.deepEqual(parseState(renderState(good), "state.json"), good);
  });

  test("round-trips a real node: its slot, the node link's apiserver URL and components in its namespace", () => {
    const withNode: ControlPlaneState = {
      ...good,
      apiserverUrl: "https://10.222.17.1:40123",
      realNode: { slot: 17 },
      components: [...good.components, { name: "kubelet", binary: "/cache/kubelet", pid: 103, ports: {}, log: "/d/logs/kubelet.log", startedAt: "2025-01-01T00:00:00.000Z", netns: "mooring-17" }],
    };
    assert.deepEqual(parseState(renderState(withNode), "state.json"), withNode);
    assert.throws(() => parseState(renderState({ ...withNode, realNode: { slot: 250 } }), "s"), /realNode.slot/);
  });

  const bad: [string, unknown, RegExp][] = [
    ["an unknown version", { ...good, version: 2 }, /unsupported version 2/],
    ["a non-loopback apiserver URL", { ...good, apiserverUrl: "https://10.0.0.1:6443" }, /apiserverUrl/],
    ["a negative node count", { ...good, nodes: -1 }, /nodes is not a count/],
    ["an unknown component", { ...good, components: [{ ...good.components[0], name: "kubeadm" }] }, /"kubeadm" is not a component/],
    ["a component twice", { ...good, components: [good.components[0], good.components[0]] }, /etcd appears twice/],
    ["a relative binary path (cannot be matched against /proc cmdline)", { ...good, components: [{ ...good.components[0], binary: "etcd" }] }, /binary is not an absolute path/],
    ["pid 0 (would signal our own process group)", { ...good, components: [{ ...good.components[0], pid: 0 }] }, /pid is not a process id/],
    ["a port out of range", { ...good, components: [{ ...good.components[0], ports: { client: 70000 } }] }, /ports/],
  ];
  for (const [what, value, message] of bad) {
    test(`rejects ${what}`, () => {
      assert.throws(() => parseState(JSON.stringify(value), "/d/state.json"), (err: unknown) => err instanceof StateError && message.test(err.message) && err.message.startsWith("/d/state.json: "));
    });
  }

  test("rejects text that is not JSON, naming the file", () => {
    assert.throws(() => parseState("{", "/d/state.json"), /\/d\/state.json: not valid JSON/);
  });
});
