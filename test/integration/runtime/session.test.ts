// The reconcile session against the real apiserver: which copy of the object a reconcile works on
// (read-your-writes), the status commit (only when changed, retried over a real conflict), the throttled
// Progressing write, the finalizer and suspend lifecycle, and the one mapping from errors to conditions.
//
// The session's client is the real one, noting the requests it sends, so a test can tell whether the
// session read the object or wrote its status.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Session, WriteLog, type SessionDeps } from "../../../controllers/runtime/session";
import { KubeClient, type RequestOptions } from "../../../controllers/runtime/kube";
import { EventRecorder } from "../../../controllers/runtime/events";
import { newLogger } from "../../../controllers/runtime/log";
import { getCondition, markReady } from "../../../controllers/runtime/conditions";
import { ReconcileError } from "../../../controllers/runtime/errors";
import { testKubeConfig, waitFor } from "../../harness/cluster";
import { runtimeTest, useTestKinds, type RuntimeTest, type TestObject } from "./env";

const kinds = useTestKinds("session");
const { Widgets } = kinds;

/** The runtime's client, recording "METHOD path" of every request it sends. */
class RecordingClient extends KubeClient {
  readonly requests: string[] = [];

  override request<T>(method: string, path: string, o?: RequestOptions): Promise<T> {
    this.requests.push(`${method} ${path}`);
    return super.request<T>(method, path, o);
  }
}

const log = newLogger("silent");
const signal = new AbortController().signal;

interface SessionTest extends RuntimeTest {
  client: RecordingClient;
  deps(writes?: WriteLog, extra?: Partial<SessionDeps>): SessionDeps;
  /** A new widget with the Flux finalizer (and status, when given). */
  widget(spec?: TestObject["spec"], status?: TestObject["status"]): Promise<TestObject>;
  gets(name: string): number;
  statusWrites(name: string): number;
}

async function sessionTest(t: Parameters<typeof runtimeTest>[0]): Promise<SessionTest> {
  const env = await runtimeTest(t, kinds);
  const client = new RecordingClient(testKubeConfig());
  const path = (name: string) => `/apis/${Widgets.group}/v1/namespaces/${env.ns}/widgets/${name}`;
  let n = 0;
  return {
    ...env,
    client,
    deps: (writes = new WriteLog(), extra = {}) => ({ client, log, events: new EventRecorder(client, "test-controller", log), writes, ...extra }),
    widget: (spec = {}, status) => env.create(Widgets, `w${++n}`, spec, { finalizers: ["finalizers.fluxcd.io"], status }),
    gets: (name) => client.requests.filter((r) => r === `GET ${path(name)}`).length,
    statusWrites: (name) => client.requests.filter((r) => r === `PUT ${path(name)}/status`).length,
  };
}

test("a never-reconciled cached object is used as is; after our write, only a copy carrying that write is", async (t) => {
  const env = await sessionTest(t);
  const writes = new WriteLog();
  const cached = await env.widget();
  const s = (await Session.open(Widgets, cached, signal, env.deps(writes)))!;
  assert.equal(env.gets(cached.metadata.name), 0, "no read: the cache is all there is to know");
  markReady(s.obj, "Succeeded", "done");
  await s.commit();
  const stored = (await env.get(Widgets, cached.metadata.name))!;
  assert.equal(writes.get(`${env.ns}/${cached.metadata.name}`), stored.metadata.resourceVersion);

  // The cache has not seen our write yet: the session reads the object, and works on our status.
  const stale = (await Session.open(Widgets, cached, signal, env.deps(writes)))!;
  assert.equal(env.gets(cached.metadata.name), 1);
  assert.equal(getCondition(stale.obj, "Ready")?.status, "True", "the fresh copy has our last status");
  // Once the cache caught up with our write, it is used again.
  const current = (await Session.open(Widgets, stored, signal, env.deps(writes)))!;
  assert.equal(env.gets(cached.metadata.name), 1);
  assert.equal(current.obj.metadata.resourceVersion, stored.metadata.resourceVersion);
});

test("an object with status that this process never wrote is read fresh; a vanished one opens no session", async (t) => {
  const env = await sessionTest(t);
  const cached = await env.widget({}, { observedGeneration: 1 });
  const s = await Session.open(Widgets, cached, signal, env.deps());
  assert.ok(s);
  assert.equal(env.gets(cached.metadata.name), 1);
  await env.admin.patch(Widgets, env.ns, cached.metadata.name, { metadata: { finalizers: null } });
  await env.remove(Widgets, cached.metadata.name);
  await waitFor(async () => (await env.get(Widgets, cached.metadata.name)) === undefined, { what: "the widget to be gone" });
  assert.equal(await Session.open(Widgets, cached, signal, env.deps()), undefined);
});

test("commit writes status only when it changed, and over a conflicting write it retries on a fresh copy", async (t) => {
  const env = await sessionTest(t);
  const cached = await env.widget();
  const s = (await Session.open(Widgets, cached, signal, env.deps()))!;
  await s.commit();
  assert.equal(env.statusWrites(cached.metadata.name), 0, "nothing changed, nothing written");
  // Someone else changes the object after the session read it: the session's resourceVersion is stale, and
  // the apiserver refuses a status write made with it.
  await env.patchSpec(Widgets, cached.metadata.name, { interval: "5m" });
  markReady(s.obj, "Succeeded", "applied");
  await s.commit();
  const stored = (await env.get(Widgets, cached.metadata.name))!;
  assert.equal(getCondition(stored, "Ready")?.message, "applied");
  assert.equal(stored.spec.interval, "5m", "the other writer's change is kept");
  assert.ok(env.statusWrites(cached.metadata.name) >= 2, "the write was retried");
  assert.equal(s.obj.metadata.resourceVersion, stored.metadata.resourceVersion, "the session holds the version it wrote");
  const again = env.statusWrites(cached.metadata.name);
  await s.commit();
  assert.equal(env.statusWrites(cached.metadata.name), again, "committed status is the new baseline");
});

test("Progressing is written only when the reconcile outlasts the delay; the final status always is", async (t) => {
  const env = await sessionTest(t);
  const quick = await env.widget();
  const s1 = (await Session.open(Widgets, quick, signal, env.deps(new WriteLog(), { progressDelayMs: 200 })))!;
  s1.progressing("Progressing", "working");
  markReady(s1.obj, "Succeeded", "done");
  await s1.commit();
  assert.equal(env.statusWrites(quick.metadata.name), 1);

  const slow = await env.widget();
  const s2 = (await Session.open(Widgets, slow, signal, env.deps(new WriteLog(), { progressDelayMs: 20 })))!;
  s2.progressing("Progressing", "working");
  const shown = await waitFor(async () => {
    const o = await env.get(Widgets, slow.metadata.name);
    return o && getCondition(o, "Reconciling") ? o : undefined;
  }, { what: "the Progressing write", intervalMs: 10 });
  assert.equal(env.statusWrites(slow.metadata.name), 1);
  assert.equal(getCondition(shown, "Reconciling")?.status, "True");
  assert.equal(getCondition(shown, "Ready")?.status, "Unknown");
  markReady(s2.obj, "Succeeded", "done");
  await s2.commit();
  assert.equal(env.statusWrites(slow.metadata.name), 2);
  assert.equal(getCondition((await env.get(Widgets, slow.metadata.name))!, "Reconciling"), undefined);
});

test("fail() maps an error to conditions once: its condition type, Ready=False, Stalled or Reconciling", async (t) => {
  const env = await sessionTest(t);
  const a = await env.widget();
  const s = (await Session.open(Widgets, a, signal, env.deps()))!;
  const e = await s.fail(new Error("remote hung up"), { reason: "GitOperationFailed", condition: "FetchFailed" });
  assert.equal(e.reason, "GitOperationFailed");
  let stored = (await env.get(Widgets, a.metadata.name))!;
  assert.deepEqual(
    ["FetchFailed", "Ready", "Reconciling"].map((type) => [type, getCondition(stored, type)?.status, getCondition(stored, type)?.reason]),
    [["FetchFailed", "True", "GitOperationFailed"], ["Ready", "False", "GitOperationFailed"], ["Reconciling", "True", "ProgressingWithRetry"]],
  );
  const b = await env.widget();
  const s2 = (await Session.open(Widgets, b, signal, env.deps()))!;
  await s2.fail(new ReconcileError("URLInvalid", "invalid URL", { stalled: true }), { reason: "GitOperationFailed", condition: "FetchFailed" });
  stored = (await env.get(Widgets, b.metadata.name))!;
  assert.equal(getCondition(stored, "Stalled")?.reason, "URLInvalid");
  assert.equal(getCondition(stored, "Reconciling"), undefined);
  assert.equal(getCondition(stored, "FetchFailed"), undefined, "a ReconcileError without a condition type sets none");
});

test("withFinalizer: adds the finalizer, skips suspended objects, runs cleanup on deletion and releases it", async (t) => {
  const env = await sessionTest(t);
  const calls: string[] = [];
  const apply = async () => void calls.push("apply");
  const cleanup = async () => void calls.push("cleanup");
  const fresh = await env.create(Widgets, "lifecycle", {}, { annotations: { "reconcile.fluxcd.io/requestedAt": "now" } });
  const writes = new WriteLog();
  const s = (await Session.open(Widgets, fresh, signal, env.deps(writes)))!;
  await s.withFinalizer(apply, cleanup);
  assert.deepEqual((await env.get(Widgets, "lifecycle"))!.metadata.finalizers, ["finalizers.fluxcd.io"]);
  assert.equal(s.requested, true);
  assert.equal(s.obj.status?.lastHandledReconcileAt, "now");
  assert.deepEqual(calls, ["apply"]);

  const suspended = await env.patchSpec(Widgets, "lifecycle", { suspend: true });
  await (await Session.open(Widgets, suspended, signal, env.deps(writes)))!.withFinalizer(apply, cleanup);
  assert.deepEqual(calls, ["apply"], "a suspended object is not reconciled");

  await env.remove(Widgets, "lifecycle");
  const deleting = (await env.get(Widgets, "lifecycle"))!;
  assert.ok(deleting.metadata.deletionTimestamp, "the finalizer holds the deleted object");
  const d = (await Session.open(Widgets, deleting, signal, env.deps(writes)))!;
  await d.withFinalizer(apply, cleanup);
  await d.commit();
  assert.deepEqual(calls, ["apply", "cleanup"]);
  await waitFor(async () => (await env.get(Widgets, "lifecycle")) === undefined, { what: "the released widget to be gone" });
});
