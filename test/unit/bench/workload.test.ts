import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { appName, appObjects, floorObjects, kustomization, objectsPerApp, repositoryFiles } from "../../../bench/workload";

test("app names are zero-padded and start at 1", () => {
  assert.equal(appName(1), "app-0001");
  assert.equal(appName(1000), "app-1000");
  assert.throws(() => appName(0), RangeError);
});

test("each app has a 0-replica Deployment, ServiceAccount, headless Service and Ingress in its own namespace", () => {
  const objs = Object.values(appObjects(7));
  assert.equal(objs.length, objectsPerApp);
  assert.deepEqual(objs.map((o) => o.kind).sort(), ["Deployment", "Ingress", "Service", "ServiceAccount"]);
  for (const o of objs) assert.equal(o.metadata.namespace, "app-0007");
  const dep = objs.find((o) => o.kind === "Deployment") as unknown as { spec: { replicas: number } };
  assert.equal(dep.spec.replicas, 0);
  const svc = objs.find((o) => o.kind === "Service") as unknown as { spec: { clusterIP: string } };
  assert.equal(svc.spec.clusterIP, "None");
});

test("repositoryFiles writes 4 parseable files per app directory and no kustomization.yaml", () => {
  const files = repositoryFiles(3);
  assert.equal(Object.keys(files).length, 12);
  assert.ok(Object.keys(files).every((p) => /^apps\/app-000[1-3]\/[a-z]+\.yaml$/.test(p)));
  for (const text of Object.values(files)) assert.equal(parseAllDocuments(text).length, 1);
});

test("a Kustomization points at its app directory with prune and the bench GitRepository", () => {
  const k = kustomization(12, { interval: "10m" }) as { spec: Record<string, unknown> } & ReturnType<typeof kustomization>;
  assert.equal(k.metadata.name, "app-0012");
  assert.deepEqual(k.spec, { interval: "10m", path: "./apps/app-0012", prune: true, sourceRef: { kind: "GitRepository", name: "bench" } });
});

test("the floor applies the same objects with the controller's ownership labels", () => {
  const objs = floorObjects(2);
  assert.equal(objs.length, objectsPerApp);
  for (const o of objs) assert.equal(o.metadata.labels?.["kustomize.toolkit.fluxcd.io/name"], "app-0002");
  assert.equal(appObjects(2)["service.yaml"]!.metadata.labels?.["kustomize.toolkit.fluxcd.io/name"], undefined);
});

test("repository files are plain YAML without anchors or aliases", () => {
  for (const text of Object.values(repositoryFiles(2))) assert.doesNotMatch(text, /(^|\s)[&*][a-z0-9]/m);
});
