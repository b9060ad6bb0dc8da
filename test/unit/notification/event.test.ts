// Incoming events: what is refused and why, the metadata providers see, duplicates within the window, and the
// Receiver's webhook path as Flux computes it.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DuplicateWindow, EventValidationError, parseEvent, providerMetadata, rateLimitKey } from "../../../controllers/notification/event";
import { receiverWebhookPath } from "../../../controllers/api/notification";
import type { FluxEvent } from "../../../controllers/runtime/fluxevents";

const valid: FluxEvent = {
  involvedObject: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", name: "apps", namespace: "flux-system", uid: "u" },
  severity: "error",
  timestamp: "2026-01-01T00:00:00Z",
  message: "health check failed",
  reason: "HealthCheckFailed",
  metadata: {
    "kustomize.toolkit.fluxcd.io/revision": "main@sha1:1111111111111111111111111111111111111111",
    "kustomize.toolkit.fluxcd.io/checksum": "x",
    "source.toolkit.fluxcd.io/revision": "other group",
    plain: "no group",
  },
  reportingController: "kustomize-controller",
  reportingInstance: "kustomize-controller-abc",
};

test("a valid event parses; each missing or wrong field is named", () => {
  assert.deepEqual(parseEvent(JSON.stringify(valid)), valid);
  const refuses = (doc: unknown, message: RegExp) => assert.throws(() => parseEvent(typeof doc === "string" ? doc : JSON.stringify(doc)), (e: unknown) => e instanceof EventValidationError && message.test(e.message));
  refuses("{not json", /not JSON/);
  refuses([1, 2], /not a JSON object/);
  refuses({ ...valid, involvedObject: undefined }, /involvedObject is missing/);
  refuses({ ...valid, involvedObject: { ...valid.involvedObject, namespace: "" } }, /involvedObject.namespace is missing/);
  refuses({ ...valid, severity: "fatal" }, /severity must be info or error/);
  refuses({ ...valid, reason: 5 }, /reason is missing/);
  refuses({ ...valid, timestamp: "yesterday" }, /timestamp/);
  refuses({ ...valid, metadata: { a: 1 } }, /metadata must map strings to strings/);
});

test("providers see the involved object's group keys without the prefix; checksum and digest are dropped", () => {
  assert.deepEqual(providerMetadata(valid), { revision: "main@sha1:1111111111111111111111111111111111111111" });
});

test("the same object, message and revision within the window is a duplicate; another revision is not", () => {
  let now = 0;
  const w = new DuplicateWindow(60_000, () => now);
  assert.equal(w.seen(rateLimitKey(valid)), false);
  now = 59_000;
  assert.equal(w.seen(rateLimitKey(valid)), true);
  const other = { ...valid, metadata: { "kustomize.toolkit.fluxcd.io/revision": "main@sha1:2222222222222222222222222222222222222222" } };
  assert.equal(w.seen(rateLimitKey(other)), false);
  now = 120_000;
  assert.equal(w.seen(rateLimitKey(valid)), false, "after the window it goes out again");
});

test("status.webhookPath is /hook/ + hex sha256 of token, name and namespace", () => {
  const expected = `/hook/${createHash("sha256").update("s3cr3t" + "github-receiver" + "flux-system").digest("hex")}`;
  assert.equal(receiverWebhookPath("s3cr3t", "github-receiver", "flux-system"), expected);
  assert.match(expected, /^\/hook\/[0-9a-f]{64}$/);
});
