// The events and webhook endpoints survive malformed and oversized bodies and wrong methods, answer duplicates
// with 429, and hand valid events on.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { eventsServer, maxEventBodyBytes } from "../../../controllers/notification/server";
import { webhookServer } from "../../../controllers/notification/receiver";
import type { KubeClient } from "../../../controllers/runtime/kube";
import type { FluxEvent } from "../../../controllers/runtime/fluxevents";
import { newLogger } from "../../../controllers/runtime/log";

const log = newLogger("silent");
const event: FluxEvent = {
  involvedObject: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", name: "apps", namespace: "flux-system" },
  severity: "info",
  timestamp: "2026-01-01T00:00:00Z",
  message: "configured",
  reason: "ReconciliationSucceeded",
  reportingController: "kustomize-controller",
};

async function start(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function post(url: string, body: string | Buffer, method = "POST"): Promise<number> {
  try {
    const res = await fetch(url, { method, body: method === "GET" ? undefined : body, headers: { "content-type": "application/json" } });
    await res.text();
    return res.status;
  } catch {
    return -1;
  }
}

test("events endpoint: 202 for an event, 429 for its duplicate, 400 for malformed JSON, 413 when oversized, 405 for GET; it keeps serving", async () => {
  const seen: FluxEvent[] = [];
  const server = eventsServer({ log, dispatch: async (e) => seen.push(e), rateLimitMs: 60_000 });
  const url = await start(server);
  assert.equal(await post(url, JSON.stringify(event)), 202);
  assert.equal(await post(url, JSON.stringify(event)), 429);
  assert.equal(await post(url, JSON.stringify({ ...event, message: "another" })), 202);
  assert.equal(await post(url, "{\"involvedObject\":"), 400);
  assert.equal(await post(url, "\u0000\u0001binary"), 400);
  assert.equal(await post(url, JSON.stringify({ ...event, severity: "loud" })), 400);
  const huge = await post(url, Buffer.alloc(maxEventBodyBytes + 10, "a"));
  assert.ok(huge === 413 || huge === -1, `oversized body answered ${huge}`);
  assert.equal(await post(url, "", "GET"), 405);
  // A client that declares a huge body and sends little, then hangs up.
  await new Promise<void>((resolve) => {
    const sock = net.connect(Number(new URL(url).port), "127.0.0.1", () => {
      sock.write(`POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 999999999\r\n\r\n{`);
      setTimeout(() => (sock.destroy(), resolve()), 50);
    });
    sock.on("error", () => resolve());
  });
  assert.equal(await post(url, JSON.stringify({ ...event, message: "still alive" })), 202);
  server.close();
  assert.deepEqual(seen.map((e) => e.message), ["configured", "another", "still alive"]);
});

test("webhook endpoint: unknown paths are 404 without reading any Secret; oversized bodies 413; GET 405", async () => {
  let secretReads = 0;
  const client = { get: async () => (secretReads++, { data: {} }) } as unknown as KubeClient;
  const server = webhookServer({ client, log, byPath: () => undefined });
  const url = await start(server);
  assert.equal(await post(`${url}/hook/${"0".repeat(64)}`, "{}"), 404);
  assert.equal(await post(`${url}/hook/../../etc`, "{}"), 404);
  assert.equal(await post(`${url}/`, "{}"), 404);
  assert.equal(await post(`${url}/hook/${"0".repeat(64)}`, "", "GET"), 405);
  server.close();
  assert.equal(secretReads, 0);
});
