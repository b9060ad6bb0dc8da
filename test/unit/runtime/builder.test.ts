// The builder's pure parts: which owners an ownerReference names, and that a completed builder is closed.
// The mapping of watched events to reconciles runs against the real apiserver in
// test/integration/runtime/builder.test.ts.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Manager } from "../../../controllers/runtime/manager";
import { ownerKeys } from "../../../controllers/runtime/builder";
import { StaticKubeConfig } from "../../../controllers/runtime/kubeconfig";
import type { ResourceRef } from "../../../controllers/runtime/kube";
import type { ReconcilableObject } from "../../../controllers/runtime/session";
import { newLogger } from "../../../controllers/runtime/log";

const Widgets: ResourceRef = { kind: "Widget", group: "test.mooring.dev", version: "v1", plural: "widgets", namespaced: true };
const Gadgets: ResourceRef = { kind: "Gadget", group: "test.mooring.dev", version: "v1", plural: "gadgets", namespaced: true };

test("ownerKeys: only controller references of the owner's kind and group", () => {
  const ref = (kind: string, apiVersion: string, controller?: boolean) => ({ apiVersion, kind, name: `${kind}-${apiVersion}-${controller}`, uid: "u", controller });
  const child = { apiVersion: "v1", kind: "Gadget", metadata: { name: "c", namespace: "ns", ownerReferences: [ref("Widget", "test.mooring.dev/v1", true), ref("Widget", "test.mooring.dev/v1", false), ref("Widget", "other.dev/v1", true), ref("Other", "test.mooring.dev/v1", true)] } };
  assert.deepEqual(ownerKeys(child, Widgets), ["ns/Widget-test.mooring.dev/v1-true"]);
  assert.deepEqual(ownerKeys({ ...child, metadata: { name: "c", namespace: "ns" } }, Gadgets), []);
});

test("a completed builder cannot be changed", () => {
  // Wiring only: the manager never runs, so the address is never contacted.
  const mgr = new Manager({ kubeConfig: new StaticKubeConfig({ server: "https://127.0.0.1:6443" }), log: newLogger("silent"), component: "test-controller" });
  const b = mgr.controller<ReconcilableObject>({ resource: Widgets }, { name: "widget" });
  b.complete({ reconcile: async () => undefined });
  assert.throws(() => b.watches({ resource: Gadgets }, () => []), /already complete/);
  assert.throws(() => b.index("source", () => []), /already complete/);
});
