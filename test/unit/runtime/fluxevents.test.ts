// Flux events out: the JSON Flux's controllers POST to the notification-controller, retried on 5xx and
// connection errors, not retried on 429/4xx, bounded, never blocking the recorder, the address never logged.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as http from "node:http";
import { Writable } from "node:stream";
import pino from "pino";
import { EventRecorder, reportingController } from "../../../controllers/runtime/events";
import { HttpEventSink, fluxEvent, maxEventMessageLength, type FluxEvent } from "../../../controllers/runtime/fluxevents";
import type { KubeClient, KubeObject } from "../../../controllers/runtime/kube";
import { newLogger } from "../../../controllers/runtime/log";

const silent = newLogger("silent");
const kustomization: KubeObject = {
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "apps", namespace: "flux-system", uid: "7d0cdc51-ddcf-4743-b223-83ca5c699632", resourceVersion: "42" },
};

/** A loopback receiver answering each request with the next status of `statuses` (then 202). */
async function receiver(statuses: number[] = []): Promise<{ url: string; bodies: FluxEvent[]; requests: () => number; close: () => Promise<void> }> {
  const bodies: FluxEvent[] = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests++;
      assert.equal(req.method, "POST");
      assert.equal(req.headers["content-type"], "application/json");
      bodies.push(JSON.parse(Buffer.concat(chunks).toString()) as FluxEvent);
      res.writeHead(statuses.shift() ?? 202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/`, bodies, requests: () => requests, close: () => new Promise((r) => server.close(() => r())) };
}

const kubeClient = { create: async (_r: unknown, _n: string, body: unknown) => body } as unknown as KubeClient;

test("a recorded event is posted as Flux's event JSON, with the metadata keys as Flux names them", async () => {
  const rx = await receiver();
  const sink = new HttpEventSink(rx.url, { log: silent });
  const rec = new EventRecorder(kubeClient, "mooring-controllers", silent, { sink });
  rec.record(kustomization, "Warning", "HealthCheckFailed", "Deployment/apps/web not ready", "Reconcile", { "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc" });
  rec.record(kustomization, "Normal", "ReconciliationSucceeded", "Reconciliation finished", "Reconcile", { "kustomize.toolkit.fluxcd.io/commit_status": "update" });
  await rec.flush(5_000);
  await rx.close();
  assert.equal(rx.bodies.length, 2);
  const [error, info] = rx.bodies as [FluxEvent, FluxEvent];
  assert.deepEqual(error.involvedObject, { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", name: "apps", namespace: "flux-system", uid: kustomization.metadata.uid, resourceVersion: "42" });
  assert.equal(error.severity, "error");
  assert.equal(error.reason, "HealthCheckFailed");
  assert.equal(error.message, "Deployment/apps/web not ready");
  assert.deepEqual(error.metadata, { "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc" });
  assert.equal(error.reportingController, "kustomize-controller");
  assert.ok(error.reportingInstance && error.reportingInstance.length > 0);
  assert.match(error.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(info.severity, "info");
  assert.deepEqual(info.metadata, { "kustomize.toolkit.fluxcd.io/commit_status": "update" });
});

test("the reporting controller follows the object's API group; other objects keep the recorder's name", () => {
  assert.equal(reportingController({ apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", metadata: { name: "a" } }), "source-controller");
  assert.equal(reportingController({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" } }), undefined);
});

test("messages are capped at Flux's 39,000 characters; an event without metadata has none", () => {
  const e = fluxEvent(kustomization, "info", "Progressing", "x".repeat(50_000), "kustomize-controller");
  assert.equal(e.message.length, maxEventMessageLength);
  assert.equal(e.metadata, undefined);
});

test("5xx answers are retried with backoff until taken; 429 and 4xx are not retried", async () => {
  const rx = await receiver([500, 503, 202, 429, 400]);
  const sink = new HttpEventSink(rx.url, { log: silent, minBackoffMs: 20, maxBackoffMs: 40, senders: 1 });
  sink.post(fluxEvent(kustomization, "info", "A", "first", "kustomize-controller"));
  await sink.flush(5_000);
  assert.equal(rx.requests(), 3, "two 5xx, then accepted");
  assert.equal(sink.delivered, 1);
  sink.post(fluxEvent(kustomization, "info", "B", "rate limited", "kustomize-controller"));
  sink.post(fluxEvent(kustomization, "info", "C", "refused", "kustomize-controller"));
  await sink.flush(5_000);
  await rx.close();
  assert.equal(rx.requests(), 5, "one request each for the 429 and the 400");
  assert.equal(sink.delivered, 2);
  assert.equal(sink.failed, 1);
});

test("an unreachable receiver never blocks the recorder; the queue is bounded; the address is never logged", async () => {
  const lines: string[] = [];
  const log = pino({ level: "info" }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
  // A port nothing listens on, with credentials in the address.
  const rx = await receiver();
  await rx.close();
  const url = rx.url.replace("http://", "http://user:s3cr3t-token@");
  const sink = new HttpEventSink(url, { log, retries: 1, minBackoffMs: 10, maxQueued: 5, senders: 1 });
  const rec = new EventRecorder(kubeClient, "kustomize-controller", log, { sink });
  for (let i = 0; i < 50; i++) assert.equal(rec.record(kustomization, "Normal", "Progressing", `event ${i}`), undefined);
  assert.equal(sink.failed + sink.delivered, 0, "record returned before any request finished");
  assert.ok(sink.pending <= 5, `queue bounded: ${sink.pending}`);
  await rec.flush(5_000);
  assert.ok(sink.failed >= 1 && sink.failed <= 6, `failed ${sink.failed}`);
  const text = lines.join("");
  assert.match(text, /could not post event to the notification-controller/);
  assert.match(text, /dropping events/);
  assert.doesNotMatch(text, /s3cr3t-token/);
  assert.doesNotMatch(text, new RegExp(`127\\.0\\.0\\.1:${new URL(rx.url).port}`));
});

test("trace events are never posted", async () => {
  const rx = await receiver();
  const sink = new HttpEventSink(rx.url, { log: silent });
  sink.post(fluxEvent(kustomization, "trace", "Progressing", "detail", "kustomize-controller"));
  await sink.flush(1_000);
  await rx.close();
  assert.equal(rx.requests(), 0);
});
