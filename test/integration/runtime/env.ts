// Shared setup for the runtime's tests against the real apiserver: two kinds of our own, Widget and Gadget
// (namespaced, spec and status free-form, status as a subresource), in a group of the test file's own so no
// two files share them, installed before the file's tests and removed after; a namespace per test; and the
// writes another client would make (create, spec change, delete).
import { after, before, type TestContext } from "node:test";
import { KubeClient, isNotFound, type KubeObject, type ResourceRef } from "../../../controllers/runtime/kube";
import type { KindRef } from "../../../controllers/runtime/builder";
import type { Manager } from "../../../controllers/runtime/manager";
import type { ClusterConfig } from "../../../controllers/runtime/kubeconfig";
import type { Condition } from "../../../controllers/runtime/conditions";
import { newNamespace, testKubeConfig, waitFor } from "../../harness/cluster";

export interface TestObject extends KubeObject {
  spec: { suspend?: boolean; source?: string; interval?: string; [k: string]: unknown };
  status?: { conditions?: Condition[]; observedGeneration?: number; lastHandledReconcileAt?: string; [k: string]: unknown };
}

export interface TestKinds {
  Widgets: ResourceRef;
  Gadgets: ResourceRef;
  WidgetKind: KindRef;
  GadgetKind: KindRef;
}

const CRDs: ResourceRef = { kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", namespaced: false };
const Namespaces: ResourceRef = { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false };

const free = { type: "object", "x-kubernetes-preserve-unknown-fields": true };

function crd(ref: ResourceRef): KubeObject & Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${ref.plural}.${ref.group}` },
    spec: {
      group: ref.group,
      scope: "Namespaced",
      names: { kind: ref.kind, plural: ref.plural, singular: ref.kind.toLowerCase(), listKind: `${ref.kind}List` },
      versions: [{ name: ref.version, served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: "object", properties: { spec: free, status: free } } } }],
    },
  };
}

/** The admin client of the test run's control plane. */
export function adminClient(): KubeClient {
  return new KubeClient(testKubeConfig());
}

/** Removes the finalizers of every Widget and Gadget (in ns, or everywhere), so deletions are not held up. */
async function releaseAll(admin: KubeClient, kinds: TestKinds, ns?: string): Promise<void> {
  for (const ref of [kinds.Widgets, kinds.Gadgets]) {
    let items: TestObject[];
    try {
      items = (await admin.list<TestObject>(ref, ns)).items;
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    for (const o of items) {
      if (!o.metadata.finalizers?.length) continue;
      try {
        await admin.patch(ref, o.metadata.namespace, o.metadata.name, { metadata: { finalizers: null } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}

/**
 * Widget and Gadget in group `<file>.test.mooring.dev`: installed (and served) before the calling file's
 * tests, deleted after them with whatever objects are left. The deletion finishes in the background; the
 * next install of the same group waits for it.
 */
export function useTestKinds(file: string): TestKinds {
  const group = `${file}.test.mooring.dev`;
  const Widgets: ResourceRef = { kind: "Widget", group, version: "v1", plural: "widgets", namespaced: true };
  const Gadgets: ResourceRef = { kind: "Gadget", group, version: "v1", plural: "gadgets", namespaced: true };
  const kinds: TestKinds = { Widgets, Gadgets, WidgetKind: { resource: Widgets }, GadgetKind: { resource: Gadgets } };
  const names = [Widgets, Gadgets].map((r) => `${r.plural}.${group}`);
  const admin = adminClient();
  const gone = (what: string) =>
    waitFor(async () => {
      for (const name of names) {
        try {
          await admin.get(CRDs, undefined, name);
          return false;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      return true;
    }, { what, timeoutMs: 60_000 });
  const remove = async () => {
    await releaseAll(admin, kinds);
    for (const name of names) {
      try {
        await admin.delete(CRDs, undefined, name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  };
  before(async () => {
    // What an earlier run that was killed left behind goes first.
    await remove();
    await gone(`the ${group} kinds of an earlier run to be deleted`);
    for (const ref of [Widgets, Gadgets]) await admin.apply(CRDs, crd(ref), "mooring-test");
    for (const ref of [Widgets, Gadgets]) {
      await waitFor(async () => (await admin.list(ref)).items !== undefined, { what: `${ref.plural}.${group} to be served`, timeoutMs: 60_000 });
    }
  });
  after(remove);
  return kinds;
}

/** One test's world: its namespace, the admin client, and the managers it runs until it ends. */
export interface RuntimeTest {
  ns: string;
  admin: KubeClient;
  /** The admin kubeconfig, for a Manager. */
  kubeConfig: ClusterConfig;
  /** Aborts when the test ends (or earlier, when the test stops its managers itself). */
  stop: AbortController;
  /** Runs the manager until stop aborts; the test's end waits for it and fails if it failed. */
  run(mgr: Manager): Promise<void>;
  /** Creates an object as another client would; `status` is then written through the status subresource. */
  create(ref: ResourceRef, name: string, spec?: TestObject["spec"], o?: { labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[]; ownerReferences?: NonNullable<KubeObject["metadata"]["ownerReferences"]>; status?: TestObject["status"] }): Promise<TestObject>;
  /** Merges into the spec (a new generation), as another client would. */
  patchSpec(ref: ResourceRef, name: string, spec: TestObject["spec"]): Promise<TestObject>;
  /** The stored object, undefined when it does not exist. */
  get(ref: ResourceRef, name: string): Promise<TestObject | undefined>;
  /** Deletes the object (it stays, with a deletionTimestamp, while it has finalizers). */
  remove(ref: ResourceRef, name: string): Promise<void>;
}

/**
 * A namespace for test t; when t ends its managers are stopped (and awaited), the finalizers of its objects
 * removed and the namespace deleted.
 */
export async function runtimeTest(t: TestContext, kinds: TestKinds): Promise<RuntimeTest> {
  const kubeConfig = testKubeConfig();
  const admin = new KubeClient(kubeConfig);
  const ns = await newNamespace(`rt-${t.name}`);
  const stop = new AbortController();
  const running: Promise<void>[] = [];
  t.after(async () => {
    stop.abort();
    const failed = (await Promise.allSettled(running)).find((r): r is PromiseRejectedResult => r.status === "rejected");
    await releaseAll(admin, kinds, ns);
    try {
      await admin.delete(Namespaces, undefined, ns);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (failed) throw new Error(`a manager failed: ${String(failed.reason)}`);
  });
  const get = async (ref: ResourceRef, name: string) => {
    try {
      return await admin.get<TestObject>(ref, ns, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  return {
    ns,
    admin,
    kubeConfig,
    stop,
    run(mgr) {
      const p = mgr.run(stop.signal);
      // Reported when the test ends if nobody awaits it.
      p.catch(() => undefined);
      running.push(p);
      return p;
    },
    async create(ref, name, spec = {}, o = {}) {
      const { status, ...meta } = o;
      const body = { apiVersion: `${ref.group}/${ref.version}`, kind: ref.kind, metadata: { name, namespace: ns, ...meta }, spec };
      const created = await admin.create<TestObject>(ref, ns, body);
      if (!status) return created;
      return admin.request<TestObject>("PUT", `/apis/${ref.group}/${ref.version}/namespaces/${ns}/${ref.plural}/${name}/status`, { body: { ...created, status } });
    },
    patchSpec: (ref, name, spec) => admin.patch<TestObject>(ref, ns, name, { spec }),
    get,
    async remove(ref, name) {
      await admin.delete(ref, ns, name);
    },
  };
}

/** The number of times each name was seen. */
export function counter(): { add(name: string): void; count(name: string): number; snapshot(): Map<string, number> } {
  const runs = new Map<string, number>();
  return {
    add: (name) => void runs.set(name, (runs.get(name) ?? 0) + 1),
    count: (name) => runs.get(name) ?? 0,
    snapshot: () => new Map(runs),
  };
}

/** Polls fn (synchronous state of the test) until it is true; fails naming what was awaited. */
export function until(what: string, fn: () => boolean, timeoutMs = 30_000): Promise<void> {
  return waitFor(() => fn(), { what, timeoutMs, intervalMs: 10 }).then(() => undefined);
}
