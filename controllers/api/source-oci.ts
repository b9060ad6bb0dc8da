// source.toolkit.fluxcd.io/v1 — OCIRepository. Field names, defaults, printer columns and semantics follow
// Flux's published v1 API.
import * as s from "./schema";
import { defineKind } from "./crd";
import { durationPattern, localObjectReference, reconcileStatusFields, type TypedObject } from "./meta";
import { artifact, SourceGroup, SourceVersion } from "./source";

export const ociRepositoryRef = s.object(
  {
    digest: s.string({ description: "Image digest to pull ('sha256:<hex>'); takes precedence over semver and tag." }),
    semver: s.string({ description: "SemVer range (Helm's constraint syntax) of tags to pick the highest from; takes precedence over tag." }),
    semverFilter: s.string({ description: "Regular expression the tags must match before the semver range is applied." }),
    tag: s.string({ description: "Image tag to pull, default 'latest'." }),
  },
  { description: "Which artifact of the repository to pull." },
);
export type OCIRepositoryRef = s.Infer<typeof ociRepositoryRef>;

export const ociLayerSelector = s.object(
  {
    mediaType: s.string({ description: "Media type of the layer to select; default the first layer." }),
    operation: s.enumOf(["extract", "copy"] as const, { description: "'extract' (default) unpacks the tar.gz layer and archives its files; 'copy' stores the layer as is." }),
  },
  { description: "Which layer of the artifact becomes the source, and how." },
);
export type OCILayerSelector = s.Infer<typeof ociLayerSelector>;

export const ociRepositorySpec = s.object(
  {
    url: s.string({ pattern: "^oci://.*$", description: "Address of the OCI repository, e.g. oci://ghcr.io/org/manifests (no tag or digest)." }),
    ref: ociRepositoryRef,
    layerSelector: ociLayerSelector,
    provider: s.enumOf(["generic", "aws", "azure", "gcp"] as const, { default: "generic", description: "Authentication provider; 'generic' uses secretRef." }),
    secretRef: localObjectReference,
    verify: s.object(
      { provider: s.enumOf(["cosign", "notation"] as const, { default: "cosign" }), secretRef: localObjectReference, matchOIDCIdentity: s.array(s.object({ issuer: s.string(), subject: s.string() }, { required: ["issuer", "subject"] })) },
      { required: ["provider"], description: "Signature verification (not supported by Mooring yet)." },
    ),
    serviceAccountName: s.string({ description: "ServiceAccount whose image pull secrets authenticate to the registry." }),
    certSecretRef: localObjectReference,
    proxySecretRef: localObjectReference,
    interval: s.string({ pattern: durationPattern, description: "How often the repository is checked for a new artifact." }),
    timeout: s.string({ pattern: "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$", default: "60s", description: "Timeout of remote operations." }),
    ignore: s.string({ description: "Files left out of the artifact, in .sourceignore format." }),
    insecure: s.boolean({ description: "Allow a registry over plain HTTP." }),
    suspend: s.boolean({ description: "Suspend stops the reconciliation of this object." }),
  },
  { required: ["url", "interval"], description: "OCIRepositorySpec specifies the OCI artifact to fetch." },
);
export type OCIRepositorySpec = s.Infer<typeof ociRepositorySpec>;

export const ociRepositoryStatus = s.object(
  {
    ...reconcileStatusFields,
    url: s.string({ description: "Address of the current artifact (best effort; prefer artifact.url)." }),
    artifact,
    observedIgnore: s.string(),
    observedLayerSelector: ociLayerSelector,
  },
  { description: "OCIRepositoryStatus records the observed state of an OCIRepository." },
);
export type OCIRepositoryStatus = s.Infer<typeof ociRepositoryStatus>;

export const OCIRepositoryKind = defineKind({
  group: SourceGroup,
  version: SourceVersion,
  kind: "OCIRepository",
  plural: "ocirepositories",
  singular: "ocirepository",
  shortNames: ["ocirepo"],
  description: "OCIRepository is the Schema for the ocirepositories API.",
  spec: ociRepositorySpec,
  status: ociRepositoryStatus,
  printerColumns: [
    { name: "URL", type: "string", jsonPath: ".spec.url" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
});
export type OCIRepository = TypedObject<OCIRepositorySpec, OCIRepositoryStatus>;

export const OCIPullFailedReason = "OCIArtifactPullFailed";
export const OCILayerOperationFailedReason = "OCIArtifactLayerOperationFailed";
export const ReadOperationFailedReason = "ReadOperationFailed";
/** Annotations `flux push artifact` sets on the manifest. */
export const OCISourceAnnotation = "org.opencontainers.image.source";
export const OCIRevisionAnnotation = "org.opencontainers.image.revision";
