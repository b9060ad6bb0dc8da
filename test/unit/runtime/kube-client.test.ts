import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as http from "node:http";
import type * as https from "node:https";
import type { AddressInfo } from "node:net";
import { KubeClient } from "../../../controllers/runtime/kube";

test("KubeClient: new TLS material from the config takes a new connection pool; requests running on the old one finish", async (t) => {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } });
    if (req.url?.includes("/slow")) setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end(body), 300);
    else res.writeHead(200, { "content-type": "application/json" }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  let certificate = Buffer.from("first client certificate");
  const sockets = new Set<unknown>();
  server.on("connection", (s) => sockets.add(s));
  const config = {
    getCurrentCluster: () => ({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    applyToHTTPSOptions: async (opts: https.RequestOptions) => {
      opts.cert = certificate;
    },
  };
  const client = new KubeClient(config);
  const cms = { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true };

  await client.get(cms, "ns", "a");
  await client.get(cms, "ns", "b");
  assert.equal(sockets.size, 1, "the same material reuses the pooled connection");
  const slow = client.get(cms, "ns", "slow");
  await new Promise((r) => setTimeout(r, 50));
  certificate = Buffer.from("rotated client certificate");
  await client.get(cms, "ns", "c");
  assert.equal(sockets.size, 2, "rotated material opens a connection of a new pool");
  assert.equal(((await slow) as { metadata: { name: string } }).metadata.name, "x", "the request running on the old pool finished");
});
