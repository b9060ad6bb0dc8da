import { strict as assert } from "node:assert";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { renderKubeconfig } from "../../../local/kubeconfig";

const caPem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

test("a token kubeconfig loads in the Kubernetes client with its server, CA, token and namespace", () => {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(renderKubeconfig({ name: "ns-sa", server: "https://127.0.0.1:6443", caPem, user: { token: "abc.def" }, namespace: "ns" }));
  assert.equal(kc.getCurrentCluster()?.server, "https://127.0.0.1:6443");
  assert.equal(Buffer.from(kc.getCurrentCluster()!.caData!, "base64").toString(), caPem);
  assert.equal(kc.getCurrentUser()?.token, "abc.def");
  assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, "ns");
});

test("a client-certificate kubeconfig embeds the certificate and key", () => {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(renderKubeconfig({ name: "admin", server: "https://127.0.0.1:1", caPem, user: { clientCertificate: "CERT", clientKey: "KEY" } }));
  const user = kc.getCurrentUser()!;
  assert.equal(Buffer.from(user.certData!, "base64").toString(), "CERT");
  assert.equal(Buffer.from(user.keyData!, "base64").toString(), "KEY");
  assert.equal(user.token, undefined);
});
