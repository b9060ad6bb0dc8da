// Flux's source- and kustomize-controller watch source kinds Mooring does not serve yet; without their
// CRDs their managers never start. For Flux runs the bench installs minimal, schemaless stand-ins for the
// missing ones (our GitRepository and Kustomization CRDs are used as they are).
import type { CustomResourceDefinition } from "../controllers/api/crd";

const sourceGroup = "source.toolkit.fluxcd.io";
/** Kinds Flux 2.7's source- or kustomize-controller watch, with plural names. */
export const fluxSourceKinds: { kind: string; plural: string }[] = [
  { kind: "HelmRepository", plural: "helmrepositories" },
  { kind: "HelmChart", plural: "helmcharts" },
  { kind: "Bucket", plural: "buckets" },
  { kind: "OCIRepository", plural: "ocirepositories" },
  { kind: "ExternalArtifact", plural: "externalartifacts" },
];

export function stubCrd(kind: string, plural: string): CustomResourceDefinition {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${sourceGroup}`, labels: { "app.kubernetes.io/part-of": "mooring-bench" } },
    spec: {
      group: sourceGroup,
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      scope: "Namespaced",
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  };
}

/** Stand-ins for the Flux source kinds that `existing` (CRD names) lacks. */
export function missingFluxCrds(existing: readonly string[]): CustomResourceDefinition[] {
  return fluxSourceKinds.filter((k) => !existing.includes(`${k.plural}.${sourceGroup}`)).map((k) => stubCrd(k.kind, k.plural));
}
