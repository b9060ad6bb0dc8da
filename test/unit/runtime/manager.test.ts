// The Manager's options: the watch label selector limits the informers of reconciled kinds (sharding) and
// names the shard's lease; bad values are refused with the flag they came from.
import { afterEach, beforeEach, test } from "node:test";
import * as assert from "node:assert/strict";
import { Manager, shardLeaseName, type ManagerOptions } from "../../../controllers/runtime/manager";
import type { Reconciler } from "../../../controllers/runtime/controller";
import { markReady } from "../../../controllers/runtime/conditions";
import { newLogger } from "../../../controllers/runtime/log";
import { GadgetKind, Gadgets, TestApiServer, WidgetKind, Widgets, until, type TestObject } from "./apiserver";

let api: TestApiServer;
let stop: AbortController;
beforeEach(async () => {
  api = await TestApiServer.start();
  stop = new AbortController();
});
afterEach(async () => {
  stop.abort();
  await api.close();
});

const manager = (extra: Partial<ManagerOptions> = {}) => new Manager({ kubeConfig: api.kubeConfig(), log: newLogger("silent"), component: "test-controller", ...extra });

test("--watch-label-selector: only the shard's objects are listed, watched and reconciled; watched kinds are not filtered", async () => {
  const mgr = manager({ watchLabelSelector: "sharding.fluxcd.io/key=shard1" });
  const seen: string[] = [];
  const r: Reconciler<TestObject> = {
    reconcile: async (s) => {
      seen.push(s.obj.metadata.name);
      markReady(s.obj, "Succeeded", "ok");
    },
  };
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).watches<TestObject>(GadgetKind, () => []).complete(r);
  api.put("widgets", { metadata: { name: "mine", namespace: "ns", labels: { "sharding.fluxcd.io/key": "shard1" } }, spec: {} });
  api.put("widgets", { metadata: { name: "other-shard", namespace: "ns", labels: { "sharding.fluxcd.io/key": "shard2" } }, spec: {} });
  api.put("widgets", { metadata: { name: "unsharded", namespace: "ns" }, spec: {} });
  api.put("gadgets", { metadata: { name: "any", namespace: "ns" }, spec: {} });
  void mgr.run(stop.signal);
  await until("the shard's widget reconciled", () => seen.includes("mine"));
  api.put("widgets", { metadata: { name: "mine-later", namespace: "ns", labels: { "sharding.fluxcd.io/key": "shard1" } }, spec: {} });
  api.put("widgets", { metadata: { name: "other-later", namespace: "ns" }, spec: {} });
  await until("the shard's new widget reconciled", () => seen.includes("mine-later"));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual([...new Set(seen)].sort(), ["mine", "mine-later"]);
  assert.equal(mgr.informer(Widgets).labelSelector, "sharding.fluxcd.io/key=shard1");
  assert.equal(mgr.informer(Gadgets).labelSelector, undefined, "a watched kind that is not reconciled here is not sharded");
  assert.ok(api.requests.includes("GET /apis/test.mooring.dev/v1/widgets?watch?labelSelector=sharding.fluxcd.io/key=shard1"), api.requests.join("\n"));
  assert.deepEqual(mgr.informer(Gadgets).listCached().map((g) => g.metadata.name), ["any"]);
});

test("the inverse selector takes the objects without a shard key", async () => {
  const mgr = manager({ watchLabelSelector: "!sharding.fluxcd.io/key" });
  const seen: string[] = [];
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete({ reconcile: async (s) => void seen.push(s.obj.metadata.name) });
  api.put("widgets", { metadata: { name: "sharded", namespace: "ns", labels: { "sharding.fluxcd.io/key": "shard1" } }, spec: {} });
  api.put("widgets", { metadata: { name: "unsharded", namespace: "ns" }, spec: {} });
  void mgr.run(stop.signal);
  await until("the unsharded widget reconciled", () => seen.includes("unsharded"));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(seen, ["unsharded"]);
});

test("each shard elects its own leader: the lease name carries a digest of the selector", () => {
  assert.equal(shardLeaseName("kustomize-controller-leader-election", undefined), "kustomize-controller-leader-election");
  const a = shardLeaseName("kustomize-controller-leader-election", "sharding.fluxcd.io/key=shard1");
  const b = shardLeaseName("kustomize-controller-leader-election", "!sharding.fluxcd.io/key");
  assert.match(a, /^kustomize-controller-leader-election-[0-9a-f]{8}$/);
  assert.notEqual(a, b);
  assert.equal(a, shardLeaseName("kustomize-controller-leader-election", "sharding.fluxcd.io/key=shard1"), "stable across processes");
});

test("bad tuning values are refused naming the flag", () => {
  assert.throws(() => manager({ kubeApiQps: 0 }), /--kube-api-qps/);
  assert.throws(() => manager({ kubeApiBurst: -1 }), /--kube-api-burst/);
  assert.throws(() => manager({ minRetryDelayMs: 2_000, maxRetryDelayMs: 1_000 }), /--min-retry-delay \(2000 ms\) is longer than --max-retry-delay/);
  assert.throws(() => manager({ intervalJitterPercentage: 100 }), /--interval-jitter-percentage must be in \[0, 100\)/);
  assert.throws(() => manager({ watchLabelSelector: " a=b" }), /--watch-label-selector/);
  assert.doesNotThrow(() => manager({ kubeApiQps: 50, kubeApiBurst: 300, minRetryDelayMs: 750, maxRetryDelayMs: 900_000, intervalJitterPercentage: 5 }));
});

test("a running informer's selector cannot change (its cache would mix shards)", async () => {
  const mgr = manager();
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete({ reconcile: async () => undefined });
  void mgr.run(stop.signal);
  await until("synced", () => mgr.synced());
  assert.throws(() => mgr.informer(Widgets).select("a=b"), /is running/);
});

test("an informer with a label selector is its own: it lists only the labelled objects and keeps what `keep` returns", async () => {
  const mgr = manager();
  const all = mgr.informer<TestObject>(Gadgets);
  const watched = mgr.informer<TestObject>(Gadgets, { labelSelector: "reconcile.fluxcd.io/watch=Enabled", keep: (o) => ({ ...o, spec: {} }) });
  assert.notEqual(all, watched);
  assert.equal(mgr.informer(Gadgets, { labelSelector: "reconcile.fluxcd.io/watch=Enabled" }), watched, "the same selector gives the same informer");
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete({ reconcile: async () => undefined });
  api.put("gadgets", { metadata: { name: "labelled", namespace: "ns", labels: { "reconcile.fluxcd.io/watch": "Enabled" } }, spec: { secret: "x" } });
  api.put("gadgets", { metadata: { name: "plain", namespace: "ns" }, spec: {} });
  void mgr.run(stop.signal);
  await until("both informers synced", () => all.hasSynced() && watched.hasSynced());
  assert.deepEqual(all.listCached().map((g) => g.metadata.name).sort(), ["labelled", "plain"]);
  assert.deepEqual(watched.listCached().map((g) => g.metadata.name), ["labelled"]);
  assert.deepEqual(watched.listCached()[0]!.spec, {}, "the cache holds what keep returned");
});
