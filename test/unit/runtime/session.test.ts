// The reconcile session: which copy of the object a reconcile works on (read-your-writes), the status
// commit (only when changed, retried over a conflict), the throttled Progressing write, the finalizer and
// suspend lifecycle, and the one mapping from errors to conditions.
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { Session, WriteLog, type SessionDeps } from "../../../controllers/runtime/session";
import { KubeClient } from "../../../controllers/runtime/kube";
import { EventRecorder } from "../../../controllers/runtime/events";
import { newLogger } from "../../../controllers/runtime/log";
import { getCondition, markReady } from "../../../controllers/runtime/conditions";
import { ReconcileError } from "../../../controllers/runtime/errors";
import { TestApiServer, Widgets, until, type TestObject } from "./apiserver";

let api: TestApiServer;
let client: KubeClient;
before(async () => {
  api = await TestApiServer.start();
  client = new KubeClient(api.kubeConfig());
});
after(() => api.close());

const log = newLogger("silent");
const signal = new AbortController().signal;

function deps(writes = new WriteLog(), extra: Partial<SessionDeps> = {}): SessionDeps {
  return { client, log, events: new EventRecorder(client, "test-controller", log), writes, ...extra };
}

let n = 0;
function widget(spec: TestObject["spec"] = {}, status?: TestObject["status"]): TestObject {
  return api.put("widgets", { metadata: { name: `w${++n}`, namespace: "ns", finalizers: ["finalizers.fluxcd.io"] }, spec, status });
}

const gets = (name: string) => api.requests.filter((r) => r === `GET /apis/test.mooring.dev/v1/namespaces/ns/widgets/${name}`).length;
const statusWrites = (name: string) => api.requests.filter((r) => r === `PUT /apis/test.mooring.dev/v1/namespaces/ns/widgets/${name}/status`).length;

test("a never-reconciled cached object is used as is; after our write, only a copy carrying that write is", async () => {
  const writes = new WriteLog();
  const cached = widget();
  const s = (await Session.open(Widgets, cached, signal, deps(writes)))!;
  assert.equal(gets(cached.metadata.name), 0, "no read: the cache is all there is to know");
  markReady(s.obj, "Succeeded", "done");
  await s.commit();
  const stored = api.get("widgets", "ns", cached.metadata.name)!;
  assert.equal(writes.get(`ns/${cached.metadata.name}`), stored.metadata.resourceVersion);

  // The cache has not seen our write yet: the session reads the object, and works on our status.
  const stale = (await Session.open(Widgets, cached, signal, deps(writes)))!;
  assert.equal(gets(cached.metadata.name), 1);
  assert.equal(getCondition(stale.obj, "Ready")?.status, "True", "the fresh copy has our last status");
  // Once the cache caught up with our write, it is used again.
  const current = (await Session.open(Widgets, stored, signal, deps(writes)))!;
  assert.equal(gets(cached.metadata.name), 1);
  assert.equal(current.obj.metadata.resourceVersion, stored.metadata.resourceVersion);
});

test("an object with status that this process never wrote is read fresh; a vanished one opens no session", async () => {
  const cached = widget({}, { observedGeneration: 1 });
  const s = await Session.open(Widgets, cached, signal, deps());
  assert.ok(s);
  assert.equal(gets(cached.metadata.name), 1);
  api.put("widgets", { ...cached, metadata: { ...cached.metadata, finalizers: [] } });
  api.remove("widgets", "ns", cached.metadata.name);
  assert.equal(await Session.open(Widgets, cached, signal, deps()), undefined);
});

test("commit writes status only when it changed, and over a conflicting write it retries on a fresh copy", async () => {
  const cached = widget();
  const s = (await Session.open(Widgets, cached, signal, deps()))!;
  await s.commit();
  assert.equal(statusWrites(cached.metadata.name), 0, "nothing changed, nothing written");
  // Someone else changes the object meanwhile: our resourceVersion is stale.
  api.put("widgets", { ...cached, spec: { interval: "5m" } });
  api.statusConflicts = 1;
  markReady(s.obj, "Succeeded", "applied");
  await s.commit();
  const stored = api.get("widgets", "ns", cached.metadata.name)!;
  assert.equal(getCondition(stored, "Ready")?.message, "applied");
  assert.equal(stored.spec.interval, "5m", "the other writer's change is kept");
  assert.ok(statusWrites(cached.metadata.name) >= 2, "the write was retried");
  const again = statusWrites(cached.metadata.name);
  await s.commit();
  assert.equal(statusWrites(cached.metadata.name), again, "committed status is the new baseline");
});

test("Progressing is written only when the reconcile outlasts the delay; the final status always is", async () => {
  const quick = widget();
  const s1 = (await Session.open(Widgets, quick, signal, deps(new WriteLog(), { progressDelayMs: 200 })))!;
  s1.progressing("Progressing", "working");
  markReady(s1.obj, "Succeeded", "done");
  await s1.commit();
  assert.equal(statusWrites(quick.metadata.name), 1);

  const slow = widget();
  const s2 = (await Session.open(Widgets, slow, signal, deps(new WriteLog(), { progressDelayMs: 20 })))!;
  s2.progressing("Progressing", "working");
  await until("the Progressing write", () => statusWrites(slow.metadata.name) === 1);
  const shown = api.get("widgets", "ns", slow.metadata.name)!;
  assert.equal(getCondition(shown, "Reconciling")?.status, "True");
  assert.equal(getCondition(shown, "Ready")?.status, "Unknown");
  markReady(s2.obj, "Succeeded", "done");
  await s2.commit();
  assert.equal(statusWrites(slow.metadata.name), 2);
  assert.equal(getCondition(api.get("widgets", "ns", slow.metadata.name)!, "Reconciling"), undefined);
});

test("fail() maps an error to conditions once: its condition type, Ready=False, Stalled or Reconciling", async () => {
  const a = widget();
  const s = (await Session.open(Widgets, a, signal, deps()))!;
  const e = await s.fail(new Error("remote hung up"), { reason: "GitOperationFailed", condition: "FetchFailed" });
  assert.equal(e.reason, "GitOperationFailed");
  let stored = api.get("widgets", "ns", a.metadata.name)!;
  assert.deepEqual(
    ["FetchFailed", "Ready", "Reconciling"].map((t) => [t, getCondition(stored, t)?.status, getCondition(stored, t)?.reason]),
    [["FetchFailed", "True", "GitOperationFailed"], ["Ready", "False", "GitOperationFailed"], ["Reconciling", "True", "ProgressingWithRetry"]],
  );
  const b = widget();
  const s2 = (await Session.open(Widgets, b, signal, deps()))!;
  await s2.fail(new ReconcileError("URLInvalid", "invalid URL", { stalled: true }), { reason: "GitOperationFailed", condition: "FetchFailed" });
  stored = api.get("widgets", "ns", b.metadata.name)!;
  assert.equal(getCondition(stored, "Stalled")?.reason, "URLInvalid");
  assert.equal(getCondition(stored, "Reconciling"), undefined);
  assert.equal(getCondition(stored, "FetchFailed"), undefined, "a ReconcileError without a condition type sets none");
});

test("withFinalizer: adds the finalizer, skips suspended objects, runs cleanup on deletion and releases it", async () => {
  const calls: string[] = [];
  const apply = async () => void calls.push("apply");
  const cleanup = async () => void calls.push("cleanup");
  const fresh = api.put("widgets", { metadata: { name: "lifecycle", namespace: "ns", annotations: { "reconcile.fluxcd.io/requestedAt": "now" } }, spec: {} });
  const writes = new WriteLog();
  const s = (await Session.open(Widgets, fresh, signal, deps(writes)))!;
  await s.withFinalizer(apply, cleanup);
  assert.deepEqual(api.get("widgets", "ns", "lifecycle")!.metadata.finalizers, ["finalizers.fluxcd.io"]);
  assert.equal(s.requested, true);
  assert.equal(s.obj.status?.lastHandledReconcileAt, "now");
  assert.deepEqual(calls, ["apply"]);

  const suspended = api.put("widgets", { ...api.get("widgets", "ns", "lifecycle")!, spec: { suspend: true } });
  await (await Session.open(Widgets, suspended, signal, deps(writes)))!.withFinalizer(apply, cleanup);
  assert.deepEqual(calls, ["apply"], "a suspended object is not reconciled");

  api.remove("widgets", "ns", "lifecycle");
  const deleting = api.get("widgets", "ns", "lifecycle")!;
  const d = (await Session.open(Widgets, deleting, signal, deps(writes)))!;
  await d.withFinalizer(apply, cleanup);
  await d.commit();
  assert.deepEqual(calls, ["apply", "cleanup"]);
  assert.equal(api.get("widgets", "ns", "lifecycle"), undefined, "finalizer released, object gone");
});
