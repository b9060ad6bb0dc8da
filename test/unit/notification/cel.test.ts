// CEL in the notification-controller: a Receiver's resourceFilter over `res` and `req` (the examples of Flux's
// docs), a Provider's commitStatusExpr over `event`, `alert` and `provider`; invalid expressions, wrong result
// types and undeclared variables are refused before anything is evaluated.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CelError, checkCommitStatusExpr, checkResourceFilter, commitStatusFromExpr, resourceFilterMatches } from "../../../controllers/notification/cel";

const repo = (name: string, annotations?: Record<string, string>) => ({ apiVersion: "image.toolkit.fluxcd.io/v1", kind: "ImageRepository", metadata: { name, namespace: "apps", annotations } });
const gar = { action: "INSERT", digest: "us-east1-docker.pkg.dev/my-project/my-repo/hello-world@sha256:6ec1", tag: "us-east1-docker.pkg.dev/my-project/my-repo/hello-world:1.1" };

test("resourceFilter: the request's fields against the resource's metadata", () => {
  const byName = "req.tag.contains(res.metadata.name)";
  assert.equal(resourceFilterMatches(byName, repo("hello-world"), gar), true);
  assert.equal(resourceFilterMatches(byName, repo("podinfo"), gar), false);
  const byAnnotation = "has(res.metadata.annotations) && req.tag.split('/').last().value().split(':').first().value() == res.metadata.annotations['update-image']";
  assert.equal(resourceFilterMatches(byAnnotation, repo("a", { "update-image": "hello-world" }), gar), true);
  assert.equal(resourceFilterMatches(byAnnotation, repo("b", { "update-image": "other" }), gar), false);
  assert.equal(resourceFilterMatches(byAnnotation, repo("c"), gar), false);
  assert.equal(resourceFilterMatches("res.kind == 'ImageRepository' && res.metadata.namespace == 'apps'", repo("x"), {}), true);
});

test("resourceFilter: parse errors, undeclared variables and non-bool results are CelErrors", () => {
  assert.throws(() => checkResourceFilter("res.metadata.name =="), (e: Error) => e instanceof CelError && /failed to parse/.test(e.message));
  assert.throws(() => checkResourceFilter("claims.repository == 'x'"), (e: Error) => e instanceof CelError && /claims/.test(e.message));
  assert.throws(() => checkResourceFilter("'a' + 'b'"), (e: Error) => e instanceof CelError && /must give a bool, it gives string/.test(e.message));
  checkResourceFilter("req.tag.contains(res.metadata.name)");
  assert.throws(() => resourceFilterMatches("req.tag.contains(res.metadata.name)", repo("x"), {}), (e: Error) => e instanceof CelError && /failed to evaluate/.test(e.message));
});

const event = {
  involvedObject: { kind: "Kustomization", name: "apps", namespace: "flux-system" },
  severity: "info",
  timestamp: "2026-01-01T00:00:00Z",
  message: "m",
  reason: "ReconciliationSucceeded",
  reportingController: "kustomize-controller",
  metadata: { foo: "bar", revision: "main@sha1:abc" },
};
const provider = { apiVersion: "notification.toolkit.fluxcd.io/v1beta3", kind: "Provider", metadata: { name: "github", namespace: "flux-system", uid: "0c9c2e41-d2f2-4bde-a2c5-a4e3c0ae9f1a" }, spec: { type: "github" } };
const alert = { apiVersion: "notification.toolkit.fluxcd.io/v1beta3", kind: "Alert", metadata: { name: "status", namespace: "flux-system" }, spec: { providerRef: { name: "github" } } };

test("commitStatusExpr: Flux's documented example and the alert's fields", () => {
  const expr = "(event.involvedObject.kind + '/' + event.involvedObject.name + '/' + event.metadata.foo + '/' + provider.metadata.uid.split('-').first().value()).lowerAscii()";
  assert.equal(commitStatusFromExpr(expr, { event, alert, provider }), "kustomization/apps/bar/0c9c2e41");
  assert.equal(commitStatusFromExpr("alert.metadata.name + '/' + event.involvedObject.name", { event, alert, provider }), "status/apps");
});

test("commitStatusExpr: must compile to a string and give a non-empty one", () => {
  assert.throws(() => checkCommitStatusExpr("event.involvedObject.kind == 'x'"), (e: Error) => e instanceof CelError && /must give a string, it gives bool/.test(e.message));
  assert.throws(() => checkCommitStatusExpr("res.metadata.name"), (e: Error) => e instanceof CelError && /res/.test(e.message));
  assert.throws(() => commitStatusFromExpr("event.metadata.missing", { event, alert, provider }), (e: Error) => e instanceof CelError && /failed to evaluate/.test(e.message));
  assert.throws(() => commitStatusFromExpr("''", { event, alert, provider }), (e: Error) => e instanceof CelError && /empty commit status id/.test(e.message));
});
