import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as https from "node:https";
import { credentialsFromKubeconfig, inClusterCredentials, StaticKubeConfig } from "../../../controllers/runtime/kubeconfig";

const kubeconfig = (user: string) => `apiVersion: v1
kind: Config
current-context: dev
contexts:
  - name: other
    context: {cluster: nope, user: nope}
  - name: dev
    context: {cluster: local, user: me}
clusters:
  - name: local
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority: pki/ca.crt
users:
  - name: me
    user:
${user}
`;

function dir(files: Record<string, string>): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-kc-"));
  for (const [p, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(d, p)), { recursive: true });
    fs.writeFileSync(path.join(d, p), c);
  }
  return d;
}

test("client certificates from data, CA from a path relative to the kubeconfig", async () => {
  const d = dir({ "pki/ca.crt": "CA" });
  const file = path.join(d, "config");
  const c = credentialsFromKubeconfig(kubeconfig(`      client-certificate-data: ${Buffer.from("CERT").toString("base64")}\n      client-key-data: ${Buffer.from("KEY").toString("base64")}`), file)!;
  assert.equal(c.server, "https://127.0.0.1:6443");
  const opts: https.RequestOptions = {};
  await new StaticKubeConfig(c).applyToHTTPSOptions(opts);
  assert.equal(String(opts.ca), "CA");
  assert.equal(String(opts.cert), "CERT");
  assert.equal(String(opts.key), "KEY");
  assert.equal((opts.headers as Record<string, string>).Authorization, undefined);
});

test("a token file is read per request window; impersonation adds Impersonate-User", async () => {
  const d = dir({ "pki/ca.crt": "CA", token: "t1\n" });
  const c = credentialsFromKubeconfig(kubeconfig("      tokenFile: token"), path.join(d, "config"))!;
  const kc = new StaticKubeConfig(c).impersonating("system:serviceaccount:apps:deployer");
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  assert.deepEqual(opts.headers, { Authorization: "Bearer t1", "Impersonate-User": "system:serviceaccount:apps:deployer" });
});

test("exec plugins and auth providers are left to client-node; missing names are errors", () => {
  const d = dir({ "pki/ca.crt": "CA" });
  assert.equal(credentialsFromKubeconfig(kubeconfig("      exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}"), path.join(d, "config")), undefined);
  assert.throws(() => credentialsFromKubeconfig(kubeconfig("      token: x").replace("current-context: dev", "current-context: gone"), "k"), /context "gone" not found/);
});

test("in-cluster credentials use the ServiceAccount files", () => {
  const d = dir({ "ca.crt": "CA", token: "tok" });
  const c = inClusterCredentials({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }, d);
  assert.equal(c.server, "https://10.0.0.1:443");
  assert.equal(c.tokenFile, path.join(d, "token"));
});
