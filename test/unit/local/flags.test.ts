import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import * as flags from "../../../local/flags";
import type { Pki } from "../../../local/pki";

const pair = (n: string) => ({ cert: `/d/pki/${n}.crt`, key: `/d/pki/${n}.key` });
const pki: Pki = {
  dir: "/d/pki",
  ca: pair("ca"),
  apiserver: pair("apiserver"),
  admin: pair("admin"),
  controllerManager: pair("controller-manager"),
  scheduler: pair("scheduler"),
  kwok: pair("kwok"),
  kubelet: pair("kubelet"),
  kubeProxy: pair("kube-proxy"),
  apiserverKubeletClient: pair("apiserver-kubelet-client"),
  serviceAccountKey: "/d/pki/sa.key",
  serviceAccountPub: "/d/pki/sa.pub",
};
const l = flags.layout("/d", pki);
const ports: flags.Ports = { etcdClient: 41001, etcdPeer: 41002, apiserver: 41003, controllerManager: 41004, scheduler: 41005 };

function flag(args: string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

describe("component flags", () => {
  test("the apiserver talks to the etcd client URL etcd listens on", () => {
    assert.equal(flag(flags.apiserverArgs(l, ports), "etcd-servers"), flag(flags.etcdArgs(l, ports), "listen-client-urls"));
  });

  test("every listener binds loopback only, on the ports it was given", () => {
    const e = flags.etcdArgs(l, ports);
    assert.equal(flag(e, "listen-client-urls"), "http://127.0.0.1:41001");
    assert.equal(flag(e, "listen-peer-urls"), "http://127.0.0.1:41002");
    for (const [args, port] of [
      [flags.apiserverArgs(l, ports), 41003],
      [flags.controllerManagerArgs(l, ports), 41004],
      [flags.schedulerArgs(l, ports), 41005],
    ] as const) {
      assert.equal(flag(args, "bind-address"), "127.0.0.1");
      assert.equal(flag(args, "secure-port"), String(port));
    }
  });

  test("tokens the controller-manager signs verify with the key the apiserver trusts", () => {
    const api = flags.apiserverArgs(l, ports);
    const kcm = flags.controllerManagerArgs(l, ports);
    assert.equal(flag(kcm, "service-account-private-key-file"), flag(api, "service-account-signing-key-file"));
    assert.equal(flag(api, "service-account-key-file"), pki.serviceAccountPub);
    assert.equal(flag(kcm, "root-ca-file"), flag(api, "client-ca-file"));
  });

  test("the apiserver authorizes with Node and RBAC", () => {
    assert.equal(flag(flags.apiserverArgs(l, ports), "authorization-mode"), "Node,RBAC");
  });

  test("kwok manages exactly the Nodes up creates", () => {
    const selector = flag(flags.kwokArgs(l), "manage-nodes-with-annotation-selector");
    assert.equal(flag(flags.kwokArgs(l), "manage-all-nodes"), "false");
    const [key, value] = selector!.split("=");
    const node = flags.nodeManifest(flags.nodeName(0)) as { metadata: { name: string; annotations: Record<string, string> } };
    assert.equal(node.metadata.annotations[key!], value);
    assert.equal(node.metadata.name, "kwok-node-0");
  });

  test("kwok's pod IPs stay out of the service range", () => {
    assert.equal(flag(flags.kwokArgs(l), "cidr"), flags.podCidr);
    assert.notEqual(flags.podCidr.split(".").slice(0, 2).join("."), flags.serviceCidr.split(".").slice(0, 2).join("."));
  });
});
