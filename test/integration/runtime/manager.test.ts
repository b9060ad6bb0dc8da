// The Manager against the real apiserver: the watch label selector limits the informers of reconciled kinds
// (sharding), and a running informer's selector is fixed.
//
// An informer caches every object its list and watch return, so a cache holding only the shard's objects
// shows the apiserver was asked for the shard only. Events of one kind arrive in order and the controller has
// one worker and a FIFO queue: once a widget created later is reconciled, an earlier one would have been too.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Manager, type ManagerOptions } from "../../../controllers/runtime/manager";
import type { Reconciler } from "../../../controllers/runtime/controller";
import { markReady } from "../../../controllers/runtime/conditions";
import { newLogger } from "../../../controllers/runtime/log";
import { runtimeTest, until, useTestKinds, type RuntimeTest, type TestObject } from "./env";

const kinds = useTestKinds("manager");
const { Widgets, Gadgets, WidgetKind, GadgetKind } = kinds;

const manager = (env: RuntimeTest, extra: Partial<ManagerOptions> = {}) =>
  new Manager({ kubeConfig: env.kubeConfig, log: newLogger("silent"), component: "test-controller", namespace: env.ns, ...extra });

const shard = (key: string) => ({ labels: { "sharding.fluxcd.io/key": key } });
const cachedNames = (mgr: Manager, ref: typeof Widgets) => mgr.informer<TestObject>(ref).listCached().map((o) => o.metadata.name).sort();

test("--watch-label-selector: only the shard's objects are listed, watched and reconciled; watched kinds are not filtered", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env, { watchLabelSelector: "sharding.fluxcd.io/key=shard1" });
  const seen: string[] = [];
  const r: Reconciler<TestObject> = {
    reconcile: async (s) => {
      seen.push(s.obj.metadata.name);
      markReady(s.obj, "Succeeded", "ok");
    },
  };
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).watches<TestObject>(GadgetKind, () => []).complete(r);
  await env.create(Widgets, "mine", {}, shard("shard1"));
  await env.create(Widgets, "other-shard", {}, shard("shard2"));
  await env.create(Widgets, "unsharded");
  await env.create(Gadgets, "any");
  void env.run(mgr);
  await until("the shard's widget reconciled", () => seen.includes("mine"));
  await env.create(Widgets, "other-later");
  await env.create(Widgets, "mine-later", {}, shard("shard1"));
  await until("the shard's new widget reconciled", () => seen.includes("mine-later"));
  assert.deepEqual([...new Set(seen)].sort(), ["mine", "mine-later"]);
  assert.equal(mgr.informer(Widgets).labelSelector, "sharding.fluxcd.io/key=shard1");
  assert.equal(mgr.informer(Gadgets).labelSelector, undefined, "a watched kind that is not reconciled here is not sharded");
  assert.deepEqual(cachedNames(mgr, Widgets), ["mine", "mine-later"], "the list and the watch asked for the shard's widgets only");
  assert.deepEqual(cachedNames(mgr, Gadgets), ["any"]);
});

test("the inverse selector takes the objects without a shard key", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env, { watchLabelSelector: "!sharding.fluxcd.io/key" });
  const seen: string[] = [];
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete({ reconcile: async (s) => void seen.push(s.obj.metadata.name) });
  await env.create(Widgets, "sharded", {}, shard("shard1"));
  await env.create(Widgets, "unsharded");
  void env.run(mgr);
  await until("the unsharded widget reconciled", () => seen.includes("unsharded"));
  await env.create(Widgets, "sharded-later", {}, shard("shard1"));
  await env.create(Widgets, "unsharded-later");
  await until("the later unsharded widget reconciled", () => seen.includes("unsharded-later"));
  assert.deepEqual(seen, ["unsharded", "unsharded-later"]);
  assert.deepEqual(cachedNames(mgr, Widgets), ["unsharded", "unsharded-later"]);
});

test("a running informer's selector cannot change (its cache would mix shards)", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env);
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete({ reconcile: async () => undefined });
  void env.run(mgr);
  await until("synced", () => mgr.synced());
  assert.throws(() => mgr.informer(Widgets).select("a=b"), /is running/);
});

test("an informer with a label selector is its own: it lists only the labelled objects and keeps what `keep` returns", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env);
  const all = mgr.informer<TestObject>(Gadgets);
  const watched = mgr.informer<TestObject>(Gadgets, { labelSelector: "reconcile.fluxcd.io/watch=Enabled", keep: (o) => ({ ...o, spec: {} }) });
  assert.notEqual(all, watched);
  assert.equal(mgr.informer(Gadgets, { labelSelector: "reconcile.fluxcd.io/watch=Enabled" }), watched, "the same selector gives the same informer");
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete({ reconcile: async () => undefined });
  await env.create(Gadgets, "labelled", { secret: "x" }, { labels: { "reconcile.fluxcd.io/watch": "Enabled" } });
  await env.create(Gadgets, "plain");
  void env.run(mgr);
  await until("both informers synced", () => all.hasSynced() && watched.hasSynced());
  await until("both gadgets cached", () => all.listCached().length === 2);
  assert.deepEqual(all.listCached().map((g) => g.metadata.name).sort(), ["labelled", "plain"]);
  assert.deepEqual(watched.listCached().map((g) => g.metadata.name), ["labelled"]);
  assert.deepEqual(all.listCached().find((g) => g.metadata.name === "labelled")!.spec, { secret: "x" });
  assert.deepEqual(watched.listCached()[0]!.spec, {}, "the cache holds what keep returned");
});

test("a runnable that fails stops the manager: controllers stop and run() rejects with its error", async (t) => {
  const env = await runtimeTest(t, kinds);
  const mgr = manager(env);
  const seen: string[] = [];
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).complete({ reconcile: async (s) => void seen.push(s.obj.metadata.name) });
  let fail: (err: Error) => void = () => undefined;
  mgr.addRunnable(() => new Promise<void>((_resolve, reject) => (fail = reject)));
  await env.create(Widgets, "before");
  const stop = new AbortController();
  t.after(() => stop.abort());
  const running = mgr.run(stop.signal);
  await until("the widget reconciled", () => seen.includes("before"));
  fail(new Error("artifact server: address already in use"));
  await assert.rejects(running, /artifact server: address already in use/);
  await env.create(Widgets, "after");
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(seen, ["before"], "nothing is reconciled once the manager stopped");
});
