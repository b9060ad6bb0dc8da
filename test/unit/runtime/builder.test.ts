// The builder's mapping from watched events to reconciles: through an index of the reconciled kind (only the
// objects indexed under the value, no scan), through controller ownerReferences, and from an event source.
import { afterEach, beforeEach, test } from "node:test";
import * as assert from "node:assert/strict";
import { Manager } from "../../../controllers/runtime/manager";
import { ownerKeys, type EventSource } from "../../../controllers/runtime/builder";
import type { Reconciler } from "../../../controllers/runtime/controller";
import type { Session } from "../../../controllers/runtime/session";
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

/** Counts reconciles per object name. */
function counting(): Reconciler<TestObject> & { runs: Map<string, number>; count(name: string): number } {
  const runs = new Map<string, number>();
  return {
    runs,
    count: (name) => runs.get(name) ?? 0,
    reconcile: async (s: Session<TestObject>) => {
      runs.set(s.obj.metadata.name, (runs.get(s.obj.metadata.name) ?? 0) + 1);
      markReady(s.obj, "Succeeded", "ok");
    },
  };
}

const manager = () => new Manager({ kubeConfig: api.kubeConfig(), log: newLogger("silent"), component: "test-controller" });

test("watches(kind, map, { via }): a changed gadget reconciles exactly the widgets indexed under it", async () => {
  const mgr = manager();
  const r = counting();
  const mapped: string[] = [];
  mgr
    .controller<TestObject>(WidgetKind, { name: "widget" })
    .index("source", (w) => (w.spec.source ? [`ns/${w.spec.source}`] : []))
    .watches<TestObject>(GadgetKind, (g, old) => {
      mapped.push(g.metadata.name);
      return g.spec.revision !== old?.spec.revision ? [`${g.metadata.namespace}/${g.metadata.name}`] : [];
    }, { via: "source" })
    .complete(r);
  for (const [name, source] of [["a1", "g1"], ["a2", "g1"], ["b1", "g2"], ["none", undefined]] as const) {
    api.put("widgets", { metadata: { name, namespace: "ns" }, spec: source ? { source } : {} });
  }
  const g1 = api.put("gadgets", { metadata: { name: "g1", namespace: "ns" }, spec: { revision: "1" } });
  api.put("gadgets", { metadata: { name: "g2", namespace: "ns" }, spec: { revision: "1" } });
  void mgr.run(stop.signal);
  await until("every widget reconciled once", () => ["a1", "a2", "b1", "none"].every((n) => r.count(n) >= 1));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const before = new Map(r.runs);
  api.put("gadgets", { ...g1, spec: { revision: "2" } });
  await until("a1 and a2 reconciled again", () => r.count("a1") > before.get("a1")! && r.count("a2") > before.get("a2")!);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(r.count("b1"), before.get("b1"), "b1 uses another gadget");
  assert.equal(r.count("none"), before.get("none"), "an unrelated widget is left alone");
  assert.ok(mapped.includes("g1"));
});

test("the index follows changes: a widget moved to another source is reconciled by that source only", async () => {
  const mgr = manager();
  const r = counting();
  mgr
    .controller<TestObject>(WidgetKind, { name: "widget" })
    .index("source", (w) => (w.spec.source ? [`ns/${w.spec.source}`] : []))
    .watches<TestObject>(GadgetKind, (g) => [`${g.metadata.namespace}/${g.metadata.name}`], { via: "source" })
    .complete(r);
  const w = api.put("widgets", { metadata: { name: "mover", namespace: "ns" }, spec: { source: "old" } });
  void mgr.run(stop.signal);
  await until("first reconcile", () => r.count("mover") === 1);
  api.put("widgets", { ...api.get("widgets", "ns", "mover")!, spec: { ...w.spec, source: "new" } });
  await until("reconcile of the spec change", () => r.count("mover") === 2);
  api.put("gadgets", { metadata: { name: "old", namespace: "ns" }, spec: {} });
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(r.count("mover"), 2, "the old source no longer maps to it");
  api.put("gadgets", { metadata: { name: "new", namespace: "ns" }, spec: {} });
  await until("reconcile from the new source", () => r.count("mover") === 3);
});

test("owns(kind): a change to an owned object reconciles its controller owner", async () => {
  const mgr = manager();
  const r = counting();
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).owns(GadgetKind).complete(r);
  api.put("widgets", { metadata: { name: "parent", namespace: "ns" }, spec: {} });
  void mgr.run(stop.signal);
  await until("first reconcile", () => r.count("parent") === 1);
  const ownerReferences = [{ apiVersion: "test.mooring.dev/v1", kind: "Widget", name: "parent", uid: "uid-ns/parent", controller: true }];
  api.put("gadgets", { metadata: { name: "child", namespace: "ns", ownerReferences }, spec: {} });
  await until("reconcile through the owner reference", () => r.count("parent") === 2);
});

test("ownerKeys: only controller references of the owner's kind and group", () => {
  const ref = (kind: string, apiVersion: string, controller?: boolean) => ({ apiVersion, kind, name: `${kind}-${apiVersion}-${controller}`, uid: "u", controller });
  const child = { apiVersion: "v1", kind: "Gadget", metadata: { name: "c", namespace: "ns", ownerReferences: [ref("Widget", "test.mooring.dev/v1", true), ref("Widget", "test.mooring.dev/v1", false), ref("Widget", "other.dev/v1", true), ref("Other", "test.mooring.dev/v1", true)] } };
  assert.deepEqual(ownerKeys(child, Widgets), ["ns/Widget-test.mooring.dev/v1-true"]);
  assert.deepEqual(ownerKeys({ ...child, metadata: { name: "c", namespace: "ns" } }, Gadgets), []);
});

test("watches(eventSource, map): each event reconciles the objects it names", async () => {
  const mgr = manager();
  const r = counting();
  const handlers: ((e: { owner: string }) => void)[] = [];
  const drift: EventSource<{ owner: string }> = { subscribe: (h) => void handlers.push(h) };
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).watches(drift, (e) => [e.owner]).complete(r);
  api.put("widgets", { metadata: { name: "drifted", namespace: "ns" }, spec: {} });
  void mgr.run(stop.signal);
  await until("first reconcile", () => r.count("drifted") === 1);
  for (const h of handlers) h({ owner: "ns/drifted" });
  await until("reconcile on the event", () => r.count("drifted") === 2);
});

test("a completed builder cannot be changed", () => {
  const mgr = manager();
  const b = mgr.controller<TestObject>(WidgetKind, { name: "widget" });
  b.complete(counting());
  assert.throws(() => b.watches<TestObject>(GadgetKind, () => []), /already complete/);
});
