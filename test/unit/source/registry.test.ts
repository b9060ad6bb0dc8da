// The registry client's Bearer-token flow against a loopback stand-in for a hosted registry's token service
// (the shape of the Docker registry token authentication spec: a 401 with WWW-Authenticate: Bearer realm,
// service and scope; a token endpoint answering {"token": …} to basic auth).
import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { RegistryClient } from "../../../controllers/source/registry";

describe("registry client auth", () => {
  test("a Bearer challenge is answered with a token for the repository's pull scope; credentials never go to the blob redirect", async (t) => {
    const blob = Buffer.from("layer bytes");
    const blobDigest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "x", digest: "sha256:00", size: 0 }, layers: [{ mediaType: "application/x", digest: blobDigest, size: blob.length }] });
    const manifestDigest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
    const seen: { path: string; auth?: string }[] = [];
    const storage = http.createServer((req, res) => {
      seen.push({ path: `storage:${req.url}`, auth: req.headers.authorization });
      res.end(blob);
    });
    await new Promise<void>((r) => storage.listen(0, "127.0.0.1", r));
    const storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
    const server = http.createServer((req, res) => {
      const url = new URL(req.url!, "http://x");
      seen.push({ path: url.pathname + url.search, auth: req.headers.authorization });
      if (url.pathname === "/token") {
        if (req.headers.authorization !== `Basic ${Buffer.from("bot:s3cret").toString("base64")}`) return res.writeHead(401).end();
        assert.equal(url.searchParams.get("scope"), "repository:org/app:pull");
        assert.equal(url.searchParams.get("service"), "registry.test");
        return res.end(JSON.stringify({ token: "tok-123" }));
      }
      if (req.headers.authorization !== "Bearer tok-123") {
        return res.writeHead(401, { "www-authenticate": `Bearer realm="http://${req.headers.host}/token",service="registry.test",scope="repository:org/app:pull"` }).end();
      }
      if (url.pathname === "/v2/org/app/manifests/v1") return res.writeHead(200, { "docker-content-digest": manifestDigest, "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(req.method === "HEAD" ? undefined : manifest);
      if (url.pathname === `/v2/org/app/manifests/${manifestDigest}`) return res.writeHead(200).end(manifest);
      if (url.pathname === `/v2/org/app/blobs/${blobDigest}`) return res.writeHead(307, { location: `${storageUrl}/blob?sig=abc` }).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => {
      server.close();
      storage.close();
    });
    const client = new RegistryClient({ registry: `127.0.0.1:${(server.address() as AddressInfo).port}`, repository: "org/app", insecure: true, credentials: { username: "bot", password: "s3cret" }, signal: AbortSignal.timeout(10_000) });
    assert.equal(await client.resolve("v1"), manifestDigest);
    const { manifest: m } = await client.manifest(manifestDigest);
    assert.deepEqual(await client.blob(m.layers[0]!, 1 << 20), blob);
    assert.equal(seen.filter((s) => s.path.startsWith("/token")).length, 1, "one token, reused");
    assert.equal(seen.find((s) => s.path.startsWith("storage:"))?.auth, undefined, "no credentials to the storage redirect");

    const wrong = new RegistryClient({ registry: `127.0.0.1:${(server.address() as AddressInfo).port}`, repository: "org/app", insecure: true, credentials: { username: "bot", password: "nope" }, signal: AbortSignal.timeout(10_000) });
    await assert.rejects(wrong.resolve("v1"), /token request to http:\/\/127\.0\.0\.1:\d+\/token: 401 Unauthorized/);
  });
});
