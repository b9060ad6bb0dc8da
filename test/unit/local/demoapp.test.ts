import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { demoAppHandler, demoAppVersion, renderPage } from "../../../local/demoapp/server";

async function serve(ready: () => boolean): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(demoAppHandler({ message: "hello <fleet>", hostname: "podinfo-abc" }, ready));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe("demo app", () => {
  it("serves the message (escaped), its health and version", async () => {
    let ready = true;
    const app = await serve(() => ready);
    try {
      const page = await fetch(`${app.url}/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /<h1>hello &lt;fleet&gt;<\/h1>/);
      assert.match(html, /served by podinfo-abc/);
      assert.equal(await (await fetch(`${app.url}/healthz`)).text(), "ok\n");
      assert.equal((await fetch(`${app.url}/readyz`)).status, 200);
      assert.deepEqual(await (await fetch(`${app.url}/version`)).json(), { version: demoAppVersion });
      assert.equal((await fetch(`${app.url}/nope`)).status, 404);
      assert.equal((await fetch(`${app.url}/`, { method: "POST" })).status, 405);
      ready = false;
      assert.equal((await fetch(`${app.url}/readyz`)).status, 503, "not ready while shutting down");
      assert.equal((await fetch(`${app.url}/healthz`)).status, 200, "still alive while shutting down");
    } finally {
      await app.close();
    }
  });

  it("renders a page that names the pod", () => {
    assert.match(renderPage({ message: "m", hostname: "h" }), /^<!doctype html>/);
  });
});
