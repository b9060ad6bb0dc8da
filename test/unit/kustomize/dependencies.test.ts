import { test } from "node:test";
import * as assert from "node:assert/strict";
import { dependenciesNotReady } from "../../../controllers/kustomize/dependencies";
import { ReconcileError } from "../../../controllers/runtime/errors";
import type { DependencyReference, Kustomization } from "../../../controllers/api/kustomize";

const ks = (name: string, o: { dependsOn?: DependencyReference[]; labels?: Record<string, string>; ready?: string; generation?: number; observed?: number; applied?: string; source?: string } = {}): Kustomization => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace: "apps", generation: o.generation ?? 1, labels: o.labels },
  spec: { sourceRef: { kind: "GitRepository", name: o.source ?? "fleet" }, interval: "5m", prune: true, dependsOn: o.dependsOn },
  status: {
    observedGeneration: o.observed ?? o.generation ?? 1,
    lastAppliedRevision: o.applied,
    conditions: o.ready ? [{ type: "Ready", status: o.ready as "True", reason: "x", message: "", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: o.generation ?? 1 }] : [],
  },
});
const world = (...all: Kustomization[]) => (key: string) => all.find((k) => `${k.metadata.namespace}/${k.metadata.name}` === key);

test("built-in check: found, Ready=True at its generation, and at the shared source's revision", () => {
  const self = ks("app", { dependsOn: [{ name: "infra" }] });
  assert.equal(dependenciesNotReady(self, { lookup: world() }), "dependency 'apps/infra' not found");
  assert.equal(dependenciesNotReady(self, { lookup: world(ks("infra", { ready: "False" })) }), "dependency 'apps/infra' is not ready");
  assert.equal(dependenciesNotReady(self, { lookup: world(ks("infra", { ready: "True", generation: 2, observed: 1 })) }), "dependency 'apps/infra' is not ready");
  const infra = ks("infra", { ready: "True", applied: "main@sha1:old" });
  assert.equal(dependenciesNotReady(self, { lookup: world(infra), sourceRevision: () => "main@sha1:new" }), "dependency 'apps/infra' revision is not up to date");
  assert.equal(dependenciesNotReady(self, { lookup: world(infra), sourceRevision: () => "main@sha1:old" }), undefined);
  const otherSource = ks("infra", { ready: "True", applied: "main@sha1:old", source: "infra-repo" });
  assert.equal(dependenciesNotReady(self, { lookup: world(otherSource), sourceRevision: () => "main@sha1:new" }), undefined, "another source's revision is not compared");
});

test("a readyExpr replaces the built-in check", () => {
  const expr = "dep.metadata.labels['app/version'] == self.metadata.labels['app/version']";
  const self = ks("app", { labels: { "app/version": "v2" }, dependsOn: [{ name: "infra", readyExpr: expr }] });
  assert.equal(dependenciesNotReady(self, { lookup: world(ks("infra", { ready: "False", labels: { "app/version": "v2" } })) }), undefined, "not Ready, but the expression says ready");
  assert.equal(dependenciesNotReady(self, { lookup: world(ks("infra", { ready: "True", labels: { "app/version": "v1" } })) }), "dependency 'apps/infra' is not ready according to readyExpr eval");
});

test("with the additive gate, the built-in check runs after a true readyExpr", () => {
  const self = ks("app", { labels: { v: "1" }, dependsOn: [{ name: "infra", readyExpr: "dep.metadata.labels.v == self.metadata.labels.v" }] });
  const infra = ks("infra", { ready: "False", labels: { v: "1" } });
  assert.equal(dependenciesNotReady(self, { lookup: world(infra), additiveCelDependencyCheck: true }), "dependency 'apps/infra' is not ready");
});

test("an invalid readyExpr stalls with DependencyNotReady; a failing evaluation is only not ready", () => {
  const bad = ks("app", { dependsOn: [{ name: "infra", readyExpr: "dep.metadata.name ==" }] });
  assert.throws(
    () => dependenciesNotReady(bad, { lookup: world(ks("infra", { ready: "True" })) }),
    (e: Error) => e instanceof ReconcileError && e.reason === "DependencyNotReady" && e.stalled && /^dependency 'apps\/infra': readyExpr: failed to parse/.test(e.message),
  );
  const failing = ks("app", { dependsOn: [{ name: "infra", readyExpr: "dep.status.missing == 'x'" }] });
  assert.match(dependenciesNotReady(failing, { lookup: world(ks("infra", { ready: "True" })) })!, /^dependency 'apps\/infra' is not ready: readyExpr: failed to evaluate/);
});

test("dependencies in other namespaces are looked up there; the first not ready is named", () => {
  const self = ks("app", { dependsOn: [{ name: "infra" }, { name: "db", namespace: "data" }] });
  const db = { ...ks("db", { ready: "False" }), metadata: { name: "db", namespace: "data", generation: 1 } };
  assert.equal(dependenciesNotReady(self, { lookup: world(ks("infra", { ready: "True" }), db) }), "dependency 'data/db' is not ready");
});
