import { test } from "node:test";
import * as assert from "node:assert/strict";
import { crds, HelmReleaseKind, helmControllerRbac, helmControllerRules, type HelmRelease } from "../../../controllers/api";
import type { JSONSchemaProps } from "../../../controllers/api/schema";
import { knownControllers } from "../../../controllers/main";
import { releaseNameOf, storageNamespaceOf, targetNamespaceOf } from "../../../controllers/helm/reconciler";
import { chartSourceOf, helmChartFor } from "../../../controllers/helm/chart";
import { dependenciesNotReady, type DependencyObject } from "../../../controllers/helm/dependencies";
import { ReconcileError } from "../../../controllers/runtime/errors";

type CrdSpec = { group: string; names: { kind: string; shortNames: string[] }; versions: { name: string; subresources: unknown; additionalPrinterColumns: { name: string; jsonPath: string }[]; schema: { openAPIV3Schema: JSONSchemaProps } }[] };

const hr = (spec: Partial<HelmRelease["spec"]> = {}, name = "podinfo"): HelmRelease => ({
  apiVersion: "helm.toolkit.fluxcd.io/v2",
  kind: "HelmRelease",
  metadata: { name, namespace: "apps", generation: 1 },
  spec: { interval: "5m", ...spec },
});

test("the HelmRelease CRD has Flux's group, version, fields, status subresource and printer columns", () => {
  const crd = crds().find((c) => c.metadata.name === "helmreleases.helm.toolkit.fluxcd.io");
  assert.ok(crd);
  const spec = crd.spec as CrdSpec;
  assert.equal(spec.group, "helm.toolkit.fluxcd.io");
  assert.deepEqual(spec.names.shortNames, ["hr"]);
  const v = spec.versions[0]!;
  assert.equal(v.name, "v2");
  assert.deepEqual(v.subresources, { status: {} });
  assert.deepEqual(v.additionalPrinterColumns.map((c) => c.name), ["Age", "Ready", "Status"]);
  const s = v.schema.openAPIV3Schema.properties!.spec!;
  assert.deepEqual(s.required, ["interval"]);
  for (const f of ["chart", "chartRef", "releaseName", "targetNamespace", "storageNamespace", "maxHistory", "values", "valuesFrom", "install", "upgrade", "test", "rollback", "uninstall", "dependsOn", "suspend", "serviceAccountName", "driftDetection", "postRenderers", "commonMetadata", "timeout"]) {
    assert.ok(s.properties![f], `spec.${f}`);
  }
  assert.equal(s.properties!.values!["x-kubernetes-preserve-unknown-fields"], true);
  assert.deepEqual(s.properties!.chartRef!.properties!.kind!.enum, ["OCIRepository", "HelmChart", "ExternalArtifact"]);
  assert.deepEqual(s.properties!.install!.properties!.crds!.enum, ["Skip", "Create", "CreateReplace"]);
  assert.deepEqual(s.properties!.upgrade!.properties!.remediation!.properties!.strategy!.enum, ["rollback", "uninstall"]);
  const status = v.schema.openAPIV3Schema.properties!.status!;
  for (const f of ["history", "lastAttemptedRevision", "lastAttemptedConfigDigest", "lastAttemptedGeneration", "lastAttemptedReleaseAction", "failures", "installFailures", "upgradeFailures", "helmChart", "storageNamespace", "conditions", "observedGeneration"]) {
    assert.ok(status.properties![f], `status.${f}`);
  }
  assert.equal(HelmReleaseKind.apiVersion, "helm.toolkit.fluxcd.io/v2");
  assert.ok(knownControllers.includes("helm"));
});

test("helm-controller RBAC: its CRD, HelmCharts it creates, sources and values read, impersonation, cluster-admin only when asked", () => {
  const rules = helmControllerRules();
  const find = (group: string, res: string) => rules.find((r) => r.apiGroups.includes(group) && r.resources.includes(res));
  assert.ok(find("helm.toolkit.fluxcd.io", "helmreleases/status")?.verbs.includes("patch"));
  assert.ok(find("source.toolkit.fluxcd.io", "helmcharts")?.verbs.includes("create"));
  assert.ok(find("source.toolkit.fluxcd.io", "helmcharts")?.verbs.includes("delete"));
  assert.ok(!find("source.toolkit.fluxcd.io", "ocirepositories")?.verbs.includes("create"));
  assert.ok(find("kustomize.toolkit.fluxcd.io", "kustomizations")?.verbs.includes("watch"));
  assert.deepEqual(find("", "serviceaccounts")?.verbs, ["impersonate"]);
  const objs = helmControllerRbac("flux-system");
  assert.ok(objs.some((o) => o.kind === "ServiceAccount" && o.metadata.name === "helm-controller"));
  const isAdmin = (o: unknown) => (o as { roleRef?: { name: string } }).roleRef?.name === "cluster-admin";
  assert.ok(objs.some(isAdmin));
  assert.ok(!helmControllerRbac("flux-system", { clusterAdmin: false }).some(isAdmin));
});

test("release name, target and storage namespaces default as Flux's", () => {
  assert.equal(releaseNameOf(hr()), "podinfo");
  assert.equal(releaseNameOf(hr({ targetNamespace: "prod" })), "prod-podinfo");
  assert.equal(releaseNameOf(hr({ releaseName: "mine", targetNamespace: "prod" })), "mine");
  const long = releaseNameOf(hr({ targetNamespace: "a-very-long-target-namespace-name" }, "and-a-long-release-name-too"));
  assert.ok(long.length <= 53, long);
  assert.equal(long, releaseNameOf(hr({ targetNamespace: "a-very-long-target-namespace-name" }, "and-a-long-release-name-too")), "stable");
  assert.equal(targetNamespaceOf(hr()), "apps");
  assert.equal(targetNamespaceOf(hr({ targetNamespace: "prod" })), "prod");
  assert.equal(storageNamespaceOf(hr({ targetNamespace: "prod" })), "apps");
  assert.equal(storageNamespaceOf(hr({ storageNamespace: "store" })), "store");
});

test("spec.chart makes the HelmChart <namespace>-<name> in the source's namespace; chartRef names its source", () => {
  const templated = hr({ chart: { spec: { chart: "podinfo", version: "6.x", sourceRef: { kind: "HelmRepository", name: "charts", namespace: "flux-system" }, valuesFiles: ["values-prod.yaml"] } } });
  assert.deepEqual(chartSourceOf(templated), { kind: "HelmChart", namespace: "flux-system", name: "apps-podinfo" });
  const chart = helmChartFor(templated);
  assert.equal(chart.metadata.name, "apps-podinfo");
  assert.equal(chart.metadata.namespace, "flux-system");
  assert.deepEqual(chart.spec, { chart: "podinfo", version: "6.x", sourceRef: { kind: "HelmRepository", name: "charts" }, interval: "5m", reconcileStrategy: "ChartVersion", valuesFiles: ["values-prod.yaml"] });
  assert.equal(chart.metadata.labels!["helm.toolkit.fluxcd.io/name"], "podinfo");
  assert.deepEqual(chartSourceOf(hr({ chartRef: { kind: "OCIRepository", name: "podinfo" } })), { kind: "OCIRepository", namespace: "apps", name: "podinfo" });
  assert.throws(() => chartSourceOf(hr()), (e: unknown) => e instanceof ReconcileError && e.stalled && /spec.chart or spec.chartRef/.test(e.message));
  assert.deepEqual(chartSourceOf(hr({ chartRef: { kind: "ExternalArtifact", name: "podinfo-composite" } })), { kind: "ExternalArtifact", namespace: "apps", name: "podinfo-composite" });
  assert.throws(() => chartSourceOf(hr({ chartRef: { kind: "GitRepository" as "HelmChart", name: "x" } })), /not supported/);
});

test("dependsOn: HelmReleases by default, Kustomizations by kind; ready means Ready=True at the current generation", () => {
  const dep = (name: string, ready: string | undefined, generation = 1, observed = generation): DependencyObject => ({
    metadata: { name, namespace: "apps", generation },
    status: { observedGeneration: observed, conditions: ready ? [{ type: "Ready", status: ready as "True", reason: "x", message: "", lastTransitionTime: "2026-01-01T00:00:00Z" }] : [] },
  });
  const world: Record<string, DependencyObject> = { "HelmRelease/apps/db": dep("db", "True"), "Kustomization/apps/infra": dep("infra", "True"), "Kustomization/apps/late": dep("late", "True", 2, 1) };
  const lookup = (kind: string, key: string) => world[`${kind}/${key}`];
  assert.equal(dependenciesNotReady(hr({ dependsOn: [{ name: "db" }, { name: "infra", kind: "Kustomization" }] }), lookup), undefined);
  assert.equal(dependenciesNotReady(hr({ dependsOn: [{ name: "infra" }] }), lookup), "dependency 'apps/infra' not found");
  assert.equal(dependenciesNotReady(hr({ dependsOn: [{ name: "late", kind: "Kustomization" }] }), lookup), "dependency Kustomization 'apps/late' is not ready");
  assert.equal(dependenciesNotReady(hr({ dependsOn: [{ name: "infra", apiVersion: "kustomize.toolkit.fluxcd.io/v1" }] }), lookup), undefined);
  assert.equal(dependenciesNotReady(hr({ dependsOn: [{ name: "db", readyExpr: "dep.metadata.name == 'other'" }] }), lookup), "dependency 'apps/db' is not ready according to readyExpr eval");
  assert.throws(() => dependenciesNotReady(hr({ dependsOn: [{ name: "db", readyExpr: "dep.(" }] }), lookup), (e: unknown) => e instanceof ReconcileError && e.stalled);
});
