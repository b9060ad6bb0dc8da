// Alert matching as Flux's v1beta3 Alert documents it: event sources by kind, name (with '*'), namespace
// (default the Alert's) and matchLabels; severity; inclusion and exclusion lists; suspend; eventMetadata and
// summary that never override the event's own metadata.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { alertMatches, alertMetadata, compileFilter, nameMatches } from "../../../controllers/notification/match";
import type { Alert, AlertSpec } from "../../../controllers/api/notification";
import type { FluxEvent } from "../../../controllers/runtime/fluxevents";

const alert = (spec: Partial<AlertSpec>, namespace = "apps"): Alert => ({
  apiVersion: "notification.toolkit.fluxcd.io/v1beta3",
  kind: "Alert",
  metadata: { name: "a", namespace },
  spec: { providerRef: { name: "p" }, eventSources: [{ kind: "Kustomization", name: "*" }], ...spec },
});

const event = (o: Partial<FluxEvent> & { name?: string; namespace?: string; kind?: string } = {}): FluxEvent => ({
  involvedObject: { apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: o.kind ?? "Kustomization", name: o.name ?? "web", namespace: o.namespace ?? "apps" },
  severity: o.severity ?? "info",
  timestamp: "2026-01-01T00:00:00Z",
  message: o.message ?? "Deployment/apps/web configured",
  reason: o.reason ?? "ReconciliationSucceeded",
  reportingController: "kustomize-controller",
  metadata: o.metadata,
});

const none = () => undefined;
const matched = (a: Alert, e: FluxEvent, labels: (k: string, ns: string, n: string) => Record<string, string> | undefined = none) => alertMatches(a, e, labels).matched;

test("'*' matches any run of characters; other names match exactly", () => {
  assert.ok(nameMatches("*", "anything"));
  assert.ok(nameMatches("web-*", "web-frontend"));
  assert.ok(!nameMatches("web-*", "api-frontend"));
  assert.ok(nameMatches("web", "web"));
  assert.ok(!nameMatches("web", "web2"));
  assert.ok(!nameMatches("w.b", "web"), "dots are literal");
});

test("event sources: kind and name must match; the namespace defaults to the Alert's", () => {
  assert.ok(matched(alert({}), event()));
  assert.ok(!matched(alert({}), event({ kind: "GitRepository" })));
  assert.ok(!matched(alert({}), event({ namespace: "other" })), "another namespace needs eventSources[].namespace");
  assert.ok(matched(alert({ eventSources: [{ kind: "Kustomization", name: "web", namespace: "other" }] }), event({ namespace: "other" })));
  assert.ok(!matched(alert({ eventSources: [{ kind: "Kustomization", name: "api" }] }), event()));
});

test("with --no-cross-namespace-refs, sources in other namespaces are ignored", () => {
  const a = alert({ eventSources: [{ kind: "Kustomization", name: "*", namespace: "other" }] });
  assert.ok(alertMatches(a, event({ namespace: "other" }), none).matched);
  assert.ok(!alertMatches(a, event({ namespace: "other" }), none, compileFilter(a), true).matched);
});

test("matchLabels (with name '*') needs the object's labels to contain them", () => {
  const a = alert({ eventSources: [{ kind: "Kustomization", name: "*", matchLabels: { team: "web" } }] });
  assert.ok(matched(a, event(), () => ({ team: "web", tier: "1" })));
  assert.ok(!matched(a, event(), () => ({ team: "api" })));
  assert.ok(!matched(a, event(), none), "an object that cannot be read does not match");
});

test("severity: info alerts get everything, error alerts only errors; trace never", () => {
  assert.ok(matched(alert({ eventSeverity: "info" }), event({ severity: "error" })));
  assert.ok(!matched(alert({ eventSeverity: "error" }), event({ severity: "info" })));
  assert.ok(matched(alert({ eventSeverity: "error" }), event({ severity: "error" })));
  assert.ok(!matched(alert({}), event({ severity: "trace" })));
});

test("inclusion list: one must match; exclusion list: none may match; a suspended alert sends nothing", () => {
  assert.ok(matched(alert({ inclusionList: [".*configured.*", "^never$"] }), event()));
  assert.ok(!matched(alert({ inclusionList: ["^never$"] }), event()));
  assert.ok(!matched(alert({ exclusionList: ["Deployment/.*"] }), event()));
  assert.ok(!matched(alert({ inclusionList: [".*"], exclusionList: ["web"] }), event()));
  assert.ok(!matched(alert({ suspend: true }), event()));
});

test("an invalid regular expression is reported, and the other entries still apply", () => {
  const a = alert({ exclusionList: ["(unclosed", "configured"] });
  const f = compileFilter(a);
  assert.equal(f.errors.length, 1);
  assert.match(f.errors[0]!, /spec.exclusionList: invalid regular expression '\(unclosed'/);
  assert.ok(!alertMatches(a, event(), none, f).matched);
});

test("eventMetadata and summary are added; the event's own keys win", () => {
  const a = alert({ summary: "prod cluster", eventMetadata: { env: "prod", revision: "mine" } });
  const { metadata, kept } = alertMetadata(a, { revision: "main@sha1:abc" });
  assert.deepEqual(metadata, { revision: "main@sha1:abc", summary: "prod cluster", env: "prod" });
  assert.deepEqual(kept, ["revision"]);
  assert.equal(alertMetadata(alert({ summary: "old", eventMetadata: { summary: "new" } }), {}).metadata.summary, "new", "eventMetadata.summary wins over the deprecated summary");
});
