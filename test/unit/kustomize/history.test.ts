import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatDuration, historyMaxSize, manifestsDigest, recordHistory, type ReconcileOutcome } from "../../../controllers/kustomize/history";
import type { Manifest } from "../../../controllers/kustomize/inventory";

const cm = (name: string, data: Record<string, string>): Manifest => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "apps" }, data });
const outcome = (over: Partial<ReconcileOutcome>): ReconcileOutcome => ({
  digest: "sha256:aaa",
  at: new Date("2026-08-15T10:11:00.123Z"),
  durationMs: 2818,
  status: "ReconciliationSucceeded",
  revision: "main@sha1:450796ddb2ab6724ee1cc32a4be56da032d1cca0",
  ...over,
});

test("the digest is sha256 of the manifests, independent of key order, and changes with content or order", () => {
  const a = manifestsDigest([cm("a", { x: "1" }), cm("b", { y: "2" })]);
  assert.match(a, /^sha256:[0-9a-f]{64}$/);
  const reordered: Manifest = { kind: "ConfigMap", metadata: { namespace: "apps", name: "a" }, apiVersion: "v1", data: { x: "1" } };
  assert.equal(manifestsDigest([reordered, cm("b", { y: "2" })]), a, "key order does not count");
  assert.notEqual(manifestsDigest([cm("a", { x: "2" }), cm("b", { y: "2" })]), a);
  assert.notEqual(manifestsDigest([cm("b", { y: "2" }), cm("a", { x: "1" })]), a);
});

test("the first reconcile makes one entry with all of Flux's fields", () => {
  const h = recordHistory(undefined, outcome({ originRevision: "v1.0.1@sha1:abc" }));
  assert.deepEqual(h, [
    {
      digest: "sha256:aaa",
      firstReconciled: "2026-08-15T10:11:00Z",
      lastReconciled: "2026-08-15T10:11:00Z",
      lastReconciledDuration: "2.818s",
      lastReconciledStatus: "ReconciliationSucceeded",
      totalReconciliations: 1,
      metadata: { revision: "main@sha1:450796ddb2ab6724ee1cc32a4be56da032d1cca0", originRevision: "v1.0.1@sha1:abc" },
    },
  ]);
});

test("the same digest and status updates its entry: last time, duration, count; first time kept", () => {
  const first = recordHistory([], outcome({}));
  const second = recordHistory(first, outcome({ at: new Date("2026-08-15T11:12:00Z"), durationMs: 1500, revision: "main@sha1:b" }));
  assert.equal(second.length, 1);
  assert.equal(second[0]!.firstReconciled, "2026-08-15T10:11:00Z");
  assert.equal(second[0]!.lastReconciled, "2026-08-15T11:12:00Z");
  assert.equal(second[0]!.lastReconciledDuration, "1.5s");
  assert.equal(second[0]!.totalReconciliations, 2);
  assert.deepEqual(second[0]!.metadata, { revision: "main@sha1:b" });
  assert.equal(first[0]!.totalReconciliations, 1, "the given history is not changed");
});

test("another status or digest makes a new entry in front; a repeat of an older one moves it to the front", () => {
  let h = recordHistory([], outcome({}));
  h = recordHistory(h, outcome({ status: "HealthCheckFailed", at: new Date("2026-08-15T12:00:00Z") }));
  h = recordHistory(h, outcome({ digest: "sha256:bbb", at: new Date("2026-08-15T13:00:00Z") }));
  assert.deepEqual(h.map((e) => `${e.digest} ${e.lastReconciledStatus}`), ["sha256:bbb ReconciliationSucceeded", "sha256:aaa HealthCheckFailed", "sha256:aaa ReconciliationSucceeded"]);
  h = recordHistory(h, outcome({ at: new Date("2026-08-15T14:00:00Z") }));
  assert.deepEqual(h.map((e) => `${e.digest} ${e.lastReconciledStatus} ${e.totalReconciliations}`), ["sha256:aaa ReconciliationSucceeded 2", "sha256:bbb ReconciliationSucceeded 1", "sha256:aaa HealthCheckFailed 1"]);
});

test("at most 5 entries are kept, the oldest dropped", () => {
  let h = recordHistory([], outcome({ digest: "sha256:0" }));
  for (let i = 1; i < 8; i++) h = recordHistory(h, outcome({ digest: `sha256:${i}` }));
  assert.equal(historyMaxSize, 5);
  assert.deepEqual(h.map((e) => e.digest), ["sha256:7", "sha256:6", "sha256:5", "sha256:4", "sha256:3"]);
});

test("durations are written in Go's notation", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(75), "75ms");
  assert.equal(formatDuration(1000), "1s");
  assert.equal(formatDuration(49_813), "49.813s");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(3_723_500), "1h2m3.5s");
  assert.equal(formatDuration(3_600_000), "1h0m0s");
});
