// Deadlines: abort on the parent or on time, and once released they hold nothing (no timer, no listener on the
// parent, collectable). The Kubernetes client runs every request under one: timeouts and the caller's signal
// still abort a request, and finished requests leave nothing behind on a long-lived signal.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as http from "node:http";
import { getEventListeners } from "node:events";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { KubeConfig } from "@kubernetes/client-node";
import { deadline, withDeadline } from "../../../controllers/runtime/abort";
import { KubeClient } from "../../../controllers/runtime/kube";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a deadline aborts with a TimeoutError when its time is up", async () => {
  const d = deadline(undefined, 20);
  await tick(60);
  assert.ok(d.signal.aborted);
  assert.equal((d.signal.reason as DOMException).name, "TimeoutError");
});

test("a deadline aborts with its parent's reason; an aborted parent aborts it at once", () => {
  const parent = new AbortController();
  const d = deadline(parent.signal, 60_000);
  parent.abort(new Error("shutting down"));
  assert.ok(d.signal.aborted);
  assert.equal((d.signal.reason as Error).message, "shutting down");
  d.release();
  const late = deadline(parent.signal, 60_000);
  assert.ok(late.signal.aborted);
  assert.equal((late.signal.reason as Error).message, "shutting down");
});

test("a released deadline neither fires nor listens to its parent, and is collectable", async () => {
  const parent = new AbortController();
  const d = deadline(parent.signal, 20);
  assert.equal(getEventListeners(parent.signal, "abort").length, 1);
  d.release();
  d.release();
  assert.equal(getEventListeners(parent.signal, "abort").length, 0);
  await tick(60);
  parent.abort();
  assert.equal(d.signal.aborted, false);

  // Thousands of released 30 s deadlines on one long-lived parent, each with an abort listener (as an HTTP
  // request adds), are garbage at once.
  const long = new AbortController();
  const refs: WeakRef<AbortSignal>[] = [];
  for (let i = 0; i < 2000; i++) {
    const x = deadline(long.signal, 30_000);
    x.signal.addEventListener("abort", () => {});
    refs.push(new WeakRef(x.signal));
    x.release();
  }
  await tick(10);
  gc();
  await tick(10);
  gc();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.ok(alive < 20, `${alive} of 2000 released deadline signals still reachable`);
});

test("a deadline is the parent of many requests at once without Node's listener-leak warning", async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    const parent = deadline(undefined, 60_000);
    const children = Array.from({ length: 50 }, () => deadline(parent.signal, 60_000));
    assert.equal(getEventListeners(parent.signal, "abort").length, 50);
    await tick(10);
    for (const c of children) c.release();
    parent.release();
    assert.equal(getEventListeners(parent.signal, "abort").length, 0);
    assert.deepEqual(warnings.map((w) => w.name), []);
  } finally {
    process.off("warning", onWarning);
  }
});

test("withDeadline releases when the work settles, also when it throws", async () => {
  const parent = new AbortController();
  assert.equal(await withDeadline(parent.signal, 1000, async (s) => (s.aborted ? "aborted" : "ok")), "ok");
  await assert.rejects(withDeadline(parent.signal, 1000, () => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(getEventListeners(parent.signal, "abort").length, 0);
});

test("KubeClient: requests time out and follow the caller's signal; finished ones leave nothing on it", async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/api/v1/namespaces/ns/configmaps/slow")) return; // never answers
    if (req.url?.startsWith("/api/v1/namespaces/ns/configmaps/stalls")) return void res.writeHead(200, { "content-type": "application/json" }).write('{"apiVersion":'); // the body never ends
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const kc = new KubeConfig();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  kc.loadFromOptions({ clusters: [{ name: "c", server: url, skipTLSVerify: true }], users: [{ name: "u" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
  const client = new KubeClient(kc);
  const cms = { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true };

  const parent = new AbortController();
  await Promise.all(Array.from({ length: 200 }, (_, i) => client.get(cms, "ns", `cm-${i}`, { signal: parent.signal })));
  assert.equal(getEventListeners(parent.signal, "abort").length, 0, "no listener left on the caller's signal");

  const started = Date.now();
  await assert.rejects(client.get(cms, "ns", "slow", { timeoutMs: 100 }), (err: Error) => /timed out after 0.1 s/.test(err.message));
  assert.ok(Date.now() - started < 5_000, "the timeout aborted the request");
  await assert.rejects(client.get(cms, "ns", "stalls", { timeoutMs: 100 }), /timed out after 0.1 s/, "the deadline covers the body too");

  const p = client.get(cms, "ns", "slow-2", { signal: parent.signal });
  setTimeout(() => parent.abort(), 50);
  await assert.rejects(p, (err: Error) => err.name === "AbortError" || /abort/i.test(err.message));
});
