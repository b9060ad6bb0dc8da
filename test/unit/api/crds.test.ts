import { test } from "node:test";
import * as assert from "node:assert/strict";
import { crds, GitRepositoryKind, sourceControllerRbac } from "../../../controllers/api";
import type { JSONSchemaProps } from "../../../controllers/api/schema";

test("the GitRepository CRD has Flux's group, version, names, status subresource and printer columns", () => {
  const [crd] = crds();
  assert.equal(crd!.metadata.name, "gitrepositories.source.toolkit.fluxcd.io");
  const spec = crd!.spec as { group: string; names: { kind: string; shortNames: string[] }; versions: { name: string; subresources: unknown; additionalPrinterColumns: { name: string }[]; schema: { openAPIV3Schema: JSONSchemaProps } }[] };
  assert.equal(spec.group, "source.toolkit.fluxcd.io");
  assert.equal(spec.names.kind, "GitRepository");
  assert.deepEqual(spec.names.shortNames, ["gitrepo"]);
  const v = spec.versions[0]!;
  assert.equal(v.name, "v1");
  assert.deepEqual(v.subresources, { status: {} });
  assert.deepEqual(v.additionalPrinterColumns.map((c) => c.name), ["URL", "Age", "Ready", "Status"]);
  const gitSpec = v.schema.openAPIV3Schema.properties!.spec!;
  assert.deepEqual(gitSpec.required, ["url", "interval"]);
  assert.equal(gitSpec.properties!.timeout!.default, "60s");
  assert.deepEqual(Object.keys(gitSpec.properties!.ref!.properties!).sort(), ["branch", "commit", "name", "semver", "tag"]);
  const status = v.schema.openAPIV3Schema.properties!.status!;
  assert.deepEqual(status.properties!.artifact!.required, ["path", "url", "revision", "lastUpdateTime"]);
});

test("every schema node is structural: typed, no empty properties", () => {
  const walk = (s: JSONSchemaProps, at: string): void => {
    assert.ok(s.type, `${at} has a type`);
    for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${at}.${k}`);
    if (s.items) walk(s.items, `${at}[]`);
    if (s.additionalProperties) walk(s.additionalProperties, `${at}{}`);
  };
  walk((crds()[0]!.spec as { versions: { schema: { openAPIV3Schema: JSONSchemaProps } }[] }).versions[0]!.schema.openAPIV3Schema, "root");
  assert.equal(GitRepositoryKind.apiVersion, "source.toolkit.fluxcd.io/v1");
});

test("the source-controller RBAC grants its CRDs, status, finalizers, read-only secrets, events and namespaced leases", () => {
  const objs = sourceControllerRbac("flux-system");
  const cr = objs.find((o) => o.kind === "ClusterRole") as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
  const secrets = cr.rules.find((r) => r.resources.includes("secrets"))!;
  assert.deepEqual(secrets.verbs, ["get", "list", "watch"]);
  assert.ok(cr.rules.some((r) => r.resources.includes("gitrepositories/status") && r.verbs.includes("update")));
  assert.ok(!cr.rules.some((r) => r.verbs.includes("*") || r.resources.includes("*")), "no wildcards");
  const role = objs.find((o) => o.kind === "Role")!;
  assert.equal(role.metadata.namespace, "flux-system");
  assert.equal(objs.find((o) => o.kind === "ServiceAccount")!.metadata.name, "source-controller");
});
