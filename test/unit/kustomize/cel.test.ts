import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CelError, HealthCheckExprs, checkReadyExpr, evalReadyExpr, healthByExprs, toCel } from "../../../controllers/kustomize/cel";
import { healthOf } from "../../../controllers/kustomize/health";

const sealedSecretChecks = [
  {
    apiVersion: "bitnami.com/v1alpha1",
    kind: "SealedSecret",
    failed: "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'False')",
    current: "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True')",
  },
];
const sealed = (synced: string, generation = 1, observed = 1) => ({
  apiVersion: "bitnami.com/v1alpha1",
  kind: "SealedSecret",
  metadata: { name: "s", namespace: "apps", generation },
  status: { observedGeneration: observed, conditions: [{ type: "Synced", status: synced }] },
});

test("health expressions decide Current and Failed for their kind", () => {
  const exprs = new HealthCheckExprs(sealedSecretChecks).for("bitnami.com/v1alpha1", "SealedSecret")!;
  assert.equal(healthByExprs(exprs, sealed("True")).status, "Current");
  assert.equal(healthByExprs(exprs, sealed("False")).status, "Failed");
  assert.equal(healthByExprs(exprs, sealed("Unknown")).status, "InProgress", "none true: still in progress");
  assert.equal(healthByExprs(exprs, sealed("True", 2, 1)).status, "InProgress", "a generation not yet observed is in progress");
});

test("inProgress is evaluated first, then failed, then current", () => {
  const exprs = new HealthCheckExprs([{ apiVersion: "example.com/v1", kind: "Thing", inProgress: "status.phase == 'Busy' || true", failed: "true", current: "true" }]).for("example.com/v1", "Thing")!;
  assert.equal(healthByExprs(exprs, { status: { phase: "Busy" } }).status, "InProgress");
  const noProgress = new HealthCheckExprs([{ apiVersion: "example.com/v1", kind: "Thing", failed: "status.phase == 'Broken'", current: "true" }]).for("example.com/v1", "Thing")!;
  assert.equal(healthByExprs(noProgress, { status: { phase: "Broken" } }).status, "Failed");
  assert.equal(healthByExprs(noProgress, { status: { phase: "Fine" } }).status, "Current");
});

test("numbers are compared as Kubernetes' CEL does: whole numbers are ints", () => {
  const exprs = new HealthCheckExprs([{ apiVersion: "example.com/v2", kind: "Pool", current: "status.readyReplicas >= spec.replicas && status.ratio > 0.5 && status.readyReplicas == 3" }]).for("example.com/v1", "Pool")!;
  assert.equal(healthByExprs(exprs, { spec: { replicas: 3 }, status: { readyReplicas: 3, ratio: 0.75 } }).status, "Current", "matched by group and kind, any version");
  assert.equal(healthByExprs(exprs, { spec: { replicas: 3 }, status: { readyReplicas: 2, ratio: 0.75 } }).status, "InProgress");
  assert.deepEqual(toCel({ a: 1, b: 1.5, c: [2], d: null }), { a: 1n, b: 1.5, c: [2n], d: null });
});

test("an expression that fails on the object (a missing field) leaves it InProgress, naming the error", () => {
  const exprs = new HealthCheckExprs(sealedSecretChecks).for("bitnami.com/v1alpha1", "SealedSecret")!;
  const h = healthByExprs(exprs, { apiVersion: "bitnami.com/v1alpha1", kind: "SealedSecret", metadata: { name: "s" }, status: {} });
  assert.equal(h.status, "InProgress");
  assert.match(h.message, /failed to evaluate the CEL expression 'status\.conditions/);
});

test("healthOf uses the kind's expressions instead of the built-in rules", () => {
  const deployExprs = new HealthCheckExprs([{ apiVersion: "apps/v1", kind: "Deployment", current: "has(metadata.labels) && metadata.labels.ready == 'yes'" }]).for("apps/v1", "Deployment");
  const deploy = { apiVersion: "apps/v1", kind: "Deployment", metadata: { generation: 1, labels: { ready: "yes" } }, spec: { replicas: 3 }, status: { observedGeneration: 1 } };
  assert.equal(healthOf(deploy).status, "InProgress", "built-in: no replicas are ready");
  assert.equal(healthOf(deploy, deployExprs).status, "Current");
});

test("invalid, incomplete or duplicate health expressions are errors naming the entry", () => {
  assert.throws(() => new HealthCheckExprs([{ apiVersion: "a.io/v1", kind: "X", current: "status.conditions.filter(e," }]), (e: Error) => e instanceof CelError && /^healthCheckExprs\[0\]\.current: failed to parse the CEL expression/.test(e.message));
  assert.throws(() => new HealthCheckExprs([{ apiVersion: "a.io/v1", kind: "X", current: "true", failed: "1 + 1" }]), /healthCheckExprs\[0\]\.failed: the CEL expression '1 \+ 1' must give a bool, it gives int/);
  assert.throws(() => new HealthCheckExprs([{ apiVersion: "a.io/v1", kind: "X", current: "" }]), /healthCheckExprs\[0\]: the expression 'current' is required/);
  assert.throws(() => new HealthCheckExprs([{ apiVersion: "a.io/v1", kind: "X", current: "true" }, { apiVersion: "a.io/v2", kind: "X", current: "false" }]), /healthCheckExprs\[1\]: a second health check for X in group 'a\.io'/);
});

test("an entry for the kind wins over one for the whole group", () => {
  const exprs = new HealthCheckExprs([
    { apiVersion: "a.io/v1", kind: "", current: "false" },
    { apiVersion: "a.io/v1", kind: "Special", current: "true" },
  ]);
  assert.equal(healthByExprs(exprs.for("a.io/v1", "Special")!, {}).status, "Current");
  assert.equal(healthByExprs(exprs.for("a.io/v1", "Other")!, {}).status, "InProgress");
  assert.equal(exprs.for("b.io/v1", "Special"), undefined);
});

test("readyExpr sees the dependency as dep and the Kustomization as self", () => {
  const self = { metadata: { name: "backend", labels: { "app/version": "v1.2.3" } } };
  const dep = (version: string, generation = 2, observed = 2) => ({
    metadata: { name: "common", generation, labels: { "app/version": version } },
    status: { observedGeneration: observed, conditions: [{ type: "Ready", status: "True" }] },
  });
  const expr =
    "dep.metadata.labels['app/version'] == self.metadata.labels['app/version'] && dep.status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True') && dep.metadata.generation == dep.status.observedGeneration";
  assert.equal(evalReadyExpr(expr, dep("v1.2.3"), self), true);
  assert.equal(evalReadyExpr(expr, dep("v1.2.2"), self), false);
  assert.equal(evalReadyExpr(expr, dep("v1.2.3", 3, 2), self), false);
});

test("a readyExpr that is invalid or not boolean is an error that says so; failing on the data is told apart", () => {
  assert.throws(() => checkReadyExpr("dep.metadata.name =="), (e: Error) => e instanceof CelError && e.invalid && /readyExpr: failed to parse/.test(e.message));
  assert.throws(() => checkReadyExpr("other.metadata.name == 'x'"), (e: Error) => e instanceof CelError && e.invalid && /Unknown variable: other/.test(e.message));
  assert.throws(() => checkReadyExpr("'a' + 'b'"), /must give a bool, it gives string/);
  assert.throws(() => evalReadyExpr("dep.status.missing == 'x'", { status: {} }, {}), (e: Error) => e instanceof CelError && !e.invalid && /failed to evaluate/.test(e.message));
  assert.throws(() => evalReadyExpr("dep.metadata.name", { metadata: { name: "x" } }, {}), /gave string, not a bool/);
});
