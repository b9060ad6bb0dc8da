// Flux-compatible API types and install manifests (CRDs, RBAC), imported by controllers and bootstrap.
import { crdFor, type CustomResourceDefinition } from "./crd";
import { GitRepositoryKind } from "./source";
import { HelmChartKind, HelmRepositoryKind } from "./source-helm";
import { OCIRepositoryKind } from "./source-oci";
import { BucketKind } from "./source-bucket";
import { ExternalArtifactKind } from "./source-external";
import { ArtifactGeneratorKind } from "./source-extensions";
import { KustomizationKind } from "./kustomize";
import { HelmReleaseKind } from "./helm";
import { AlertKind, ProviderKind, ReceiverKind } from "./notification";
import { ImagePolicyKind, ImageRepositoryKind, ImageUpdateAutomationKind } from "./image";

export * from "./source";
export * from "./source-helm";
export * from "./source-oci";
export * from "./source-bucket";
export * from "./source-external";
export * from "./source-extensions";
export * from "./source-watcher-rbac";
export * from "./meta";
export * from "./duration";
export * from "./rbac";
export * from "./kustomize";
export * from "./kustomize-rbac";
export * from "./helm";
export * from "./helm-rbac";
export * from "./notification";
export * from "./notification-rbac";
export * from "./image";
export * from "./image-rbac";
export { crdFor, defineKind, type CustomResourceDefinition, type PrinterColumn, type KindDefinition } from "./crd";
export * as schema from "./schema";

/** Every CRD Mooring serves, in install order. */
export function crds(): CustomResourceDefinition[] {
  return [
    crdFor(GitRepositoryKind),
    crdFor(HelmRepositoryKind),
    crdFor(HelmChartKind),
    crdFor(OCIRepositoryKind),
    crdFor(BucketKind),
    crdFor(ExternalArtifactKind),
    crdFor(ArtifactGeneratorKind),
    crdFor(KustomizationKind),
    crdFor(HelmReleaseKind),
    crdFor(AlertKind),
    crdFor(ProviderKind),
    crdFor(ReceiverKind),
    crdFor(ImageRepositoryKind),
    crdFor(ImagePolicyKind),
    crdFor(ImageUpdateAutomationKind),
  ];
}
