// The informer's 410 Gone handling against a loopback HTTP server that speaks the list/watch protocol: an
// ERROR event with code 410 mid-stream, and a watch answered 410 outright (a stale resumeFrom), both make it
// re-list and carry on delivering events from the new list's resourceVersion.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { Informer } from "../../../controllers/runtime/informer";
import { KubeClient, type KubeObject, type ResourceRef } from "../../../controllers/runtime/kube";
import { newLogger } from "../../../controllers/runtime/log";

const ConfigMaps: ResourceRef = { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true };
type CM = KubeObject & { data?: Record<string, string> };
const cm = (name: string, rv: string, v = "1"): CM => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "ns", resourceVersion: rv }, data: { v } });

interface Script {
  /** Answers to successive list requests. */
  lists: { rv: string; items: CM[] }[];
  /** Successive watch requests: the lines to stream (then keep open), or an HTTP 410 answer. */
  watches: ({ events: unknown[] } | { status: 410 })[];
}

async function apiServer(script: Script): Promise<{ url: string; watchRVs: string[]; listCount: () => number; close: () => Promise<void> }> {
  const watchRVs: string[] = [];
  let lists = 0;
  let watches = 0;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname !== "/api/v1/namespaces/ns/configmaps") return void res.writeHead(404).end();
    if (u.searchParams.get("watch") !== "true") {
      const l = script.lists[Math.min(lists++, script.lists.length - 1)]!;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ kind: "ConfigMapList", apiVersion: "v1", metadata: { resourceVersion: l.rv }, items: l.items.map((i) => ({ metadata: i.metadata, data: i.data })) }));
      return;
    }
    watchRVs.push(u.searchParams.get("resourceVersion") ?? "");
    const w = script.watches[watches++];
    if (!w) {
      // Nothing scripted: hold the watch open (like a quiet apiserver) until the client goes away.
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders();
      return;
    }
    if ("status" in w) {
      res.writeHead(410, { "content-type": "application/json" }).end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410, message: "too old resource version" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    for (const e of w.events) res.write(JSON.stringify(e) + "\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    watchRVs,
    listCount: () => lists,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

function client(url: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: "c", server: url, skipTLSVerify: true }], users: [{ name: "u" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
  return new KubeClient(kc);
}

async function until(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runInformer(t: import("node:test").TestContext, url: string, resumeFrom?: string) {
  const informer = new Informer<CM>(client(url), ConfigMaps, newLogger("silent"), "ns", resumeFrom);
  const seen: string[] = [];
  informer.on((event, obj) => seen.push(`${event}:${obj.metadata.name}:${obj.data?.v ?? ""}`));
  const stop = new AbortController();
  const running = informer.run(stop.signal);
  t.after(async () => {
    stop.abort();
    await running;
  });
  return { informer, seen };
}

test("a 410 ERROR event on the watch stream makes the informer re-list, reconcile its cache and watch from the new list", async (t) => {
  const api = await apiServer({
    lists: [
      { rv: "100", items: [cm("a", "90")] },
      // After compaction: b was deleted and c created while the watch was broken, a changed.
      { rv: "200", items: [cm("a", "150", "2"), cm("c", "180")] },
    ],
    watches: [
      { events: [{ type: "ADDED", object: cm("b", "101") }, { type: "ERROR", object: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410, message: "too old resource version: 101 (150)" } }] },
      { events: [{ type: "MODIFIED", object: cm("c", "201", "2") }] },
    ],
  });
  t.after(() => api.close());
  const { informer, seen } = await runInformer(t, api.url);
  await until("the event after the re-list", () => informer.get("ns/c")?.data?.v === "2");
  assert.equal(informer.lists, 2, "one list at start, one re-list after the 410");
  assert.equal(api.listCount(), 2);
  // The second watch starts from the re-list's resourceVersion, not from the last event seen before the 410.
  assert.deepEqual(api.watchRVs.slice(0, 2), ["100", "200"]);
  assert.deepEqual(seen, ["add:a:1", "add:b:1", "update:a:2", "add:c:1", "delete:b:1", "update:c:2"]);
  assert.equal(informer.get("ns/b"), undefined);
  assert.deepEqual(informer.listCached().map((o) => o.metadata.name).sort(), ["a", "c"]);
});

test("a watch resumed from a compacted resourceVersion (HTTP 410) re-lists and then follows events", async (t) => {
  const api = await apiServer({
    lists: [{ rv: "500", items: [cm("a", "480")] }],
    watches: [{ status: 410 }, { events: [{ type: "ADDED", object: cm("d", "501") }, { type: "BOOKMARK", object: { kind: "ConfigMap", apiVersion: "v1", metadata: { resourceVersion: "502" } } }] }],
  });
  t.after(() => api.close());
  const { informer, seen } = await runInformer(t, api.url, "3");
  await until("the event after the re-list", () => informer.get("ns/d") !== undefined);
  assert.equal(informer.lists, 1, "resumed without a list, re-listed once after the 410");
  assert.deepEqual(api.watchRVs.slice(0, 2), ["3", "500"]);
  assert.deepEqual(seen, ["add:a:1", "add:d:1"]);
});
