// The builder's mapping from watched events to reconciles, against the real apiserver: through an index of
// the reconciled kind (only the objects indexed under the value, no scan), through controller ownerReferences,
// and from an event source.
//
// "Not reconciled" is checked after a barrier, not after a pause: a controller has one worker and a FIFO
// queue, and events of one kind arrive in order, so once a widget mapped from a later gadget event has been
// reconciled, any widget wrongly mapped from an earlier one would have been reconciled before it.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Manager } from "../../../controllers/runtime/manager";
import type { EventSource } from "../../../controllers/runtime/builder";
import type { Reconciler } from "../../../controllers/runtime/controller";
import type { Session } from "../../../controllers/runtime/session";
import { markReady } from "../../../controllers/runtime/conditions";
import { newLogger } from "../../../controllers/runtime/log";
import { counter, runtimeTest, until, useTestKinds, type RuntimeTest, type TestObject } from "./env";

const { Widgets, Gadgets, WidgetKind, GadgetKind } = useTestKinds("builder");

/** Counts reconciles per object name. */
function counting(): Reconciler<TestObject> & ReturnType<typeof counter> {
  const runs = counter();
  return {
    ...runs,
    reconcile: async (s: Session<TestObject>) => {
      runs.add(s.obj.metadata.name);
      markReady(s.obj, "Succeeded", "ok");
    },
  };
}

const manager = (env: RuntimeTest) => new Manager({ kubeConfig: env.kubeConfig, log: newLogger("silent"), component: "test-controller", namespace: env.ns });

/** Index of widgets by the gadget they name in spec.source. */
const bySource = (w: TestObject) => (w.spec.source ? [`${w.metadata.namespace}/${w.spec.source}`] : []);

test("watches(kind, map, { via }): a changed gadget reconciles exactly the widgets indexed under it", async (t) => {
  const env = await runtimeTest(t, { Widgets, Gadgets, WidgetKind, GadgetKind });
  const mgr = manager(env);
  const r = counting();
  const mapped: string[] = [];
  mgr
    .controller<TestObject>(WidgetKind, { name: "widget" })
    .index("source", bySource)
    .watches<TestObject>(GadgetKind, (g, old) => {
      mapped.push(g.metadata.name);
      return g.spec.revision !== old?.spec.revision ? [`${g.metadata.namespace}/${g.metadata.name}`] : [];
    }, { via: "source" })
    .complete(r);
  const widgets = [["a1", "g1"], ["a2", "g1"], ["b1", "g2"], ["none", undefined], ["marker", "gm"]] as const;
  for (const [name, source] of widgets) await env.create(Widgets, name, source ? { source } : {});
  for (const name of ["g1", "g2", "gm"]) await env.create(Gadgets, name, { revision: "1" });
  void env.run(mgr);
  // Every event of the initial lists is queued before the workers start: each widget is reconciled once.
  await until("every widget reconciled once", () => widgets.every(([n]) => r.count(n) >= 1));
  const before = r.snapshot();
  await env.patchSpec(Gadgets, "g1", { revision: "2" });
  await env.patchSpec(Gadgets, "gm", { revision: "2" });
  await until("a1, a2 and the marker reconciled again", () => ["a1", "a2", "marker"].every((n) => r.count(n) > before.get(n)!));
  assert.equal(r.count("b1"), before.get("b1"), "b1 uses another gadget");
  assert.equal(r.count("none"), before.get("none"), "an unrelated widget is left alone");
  assert.ok(mapped.includes("g1"));
});

test("the index follows changes: a widget moved to another source is reconciled by that source only", async (t) => {
  const env = await runtimeTest(t, { Widgets, Gadgets, WidgetKind, GadgetKind });
  const mgr = manager(env);
  const r = counting();
  mgr
    .controller<TestObject>(WidgetKind, { name: "widget" })
    .index("source", bySource)
    .watches<TestObject>(GadgetKind, (g) => [`${g.metadata.namespace}/${g.metadata.name}`], { via: "source" })
    .complete(r);
  await env.create(Widgets, "mover", { source: "old" });
  await env.create(Widgets, "marker", { source: "m" });
  void env.run(mgr);
  await until("first reconciles", () => r.count("mover") === 1 && r.count("marker") === 1);
  await env.patchSpec(Widgets, "mover", { source: "new" });
  await until("reconcile of the spec change", () => r.count("mover") === 2);
  await env.create(Gadgets, "old");
  await env.create(Gadgets, "m");
  await until("the marker reconciled from its source, after the old source's event", () => r.count("marker") === 2);
  assert.equal(r.count("mover"), 2, "the old source no longer maps to it");
  await env.create(Gadgets, "new");
  await until("reconcile from the new source", () => r.count("mover") === 3);
});

test("owns(kind): a change to an owned object reconciles its controller owner", async (t) => {
  const env = await runtimeTest(t, { Widgets, Gadgets, WidgetKind, GadgetKind });
  const mgr = manager(env);
  const r = counting();
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).owns(GadgetKind).complete(r);
  const parent = await env.create(Widgets, "parent");
  void env.run(mgr);
  await until("first reconcile", () => r.count("parent") === 1);
  const ownerReferences = [{ apiVersion: `${Widgets.group}/v1`, kind: "Widget", name: "parent", uid: parent.metadata.uid!, controller: true }];
  await env.create(Gadgets, "child", {}, { ownerReferences });
  await until("reconcile through the owner reference", () => r.count("parent") === 2);
});

test("watches(eventSource, map): each event reconciles the objects it names", async (t) => {
  const env = await runtimeTest(t, { Widgets, Gadgets, WidgetKind, GadgetKind });
  const mgr = manager(env);
  const r = counting();
  const handlers: ((e: { owner: string }) => void)[] = [];
  const drift: EventSource<{ owner: string }> = { subscribe: (h) => void handlers.push(h) };
  mgr.controller<TestObject>(WidgetKind, { name: "widget" }).watches(drift, (e) => [e.owner]).complete(r);
  await env.create(Widgets, "drifted");
  void env.run(mgr);
  await until("first reconcile", () => r.count("drifted") === 1);
  for (const h of handlers) h({ owner: `${env.ns}/drifted` });
  await until("reconcile on the event", () => r.count("drifted") === 2);
});
