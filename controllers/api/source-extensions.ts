// source.extensions.fluxcd.io/v1beta1 — ArtifactGenerator (Flux's source-watcher): composes and splits the
// artifacts of Flux sources into ExternalArtifacts with copy rules. Field names, validation, condition
// reasons, labels and annotations follow Flux's published API.
import * as s from "./schema";
import { defineKind } from "./crd";
import { reconcileStatusFields, type TypedObject } from "./meta";

export const SourceExtensionsGroup = "source.extensions.fluxcd.io";
export const SourceExtensionsVersion = "v1beta1";

/** The kinds an ArtifactGenerator reads artifacts from. */
export const generatorSourceKinds = ["GitRepository", "OCIRepository", "Bucket", "HelmChart", "ExternalArtifact"] as const;
export type GeneratorSourceKind = (typeof generatorSourceKinds)[number];

/** An alias: lower-case letters, digits, '-' and '_', starting and ending with a letter or digit. */
export const aliasPattern = "^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$";

export const generatorSourceReference = s.object(
  {
    alias: s.string({ maxLength: 63, pattern: aliasPattern, description: "Name the copy rules use for this source ('@<alias>/…'); unique in the generator." }),
    kind: s.enumOf(generatorSourceKinds, { description: "Kind of the source." }),
    name: s.string({ maxLength: 253, pattern: "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", description: "Name of the source." }),
    namespace: s.string({ maxLength: 63, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description: "Namespace of the source; default the generator's." }),
  },
  { required: ["alias", "kind", "name"], description: "A Flux source whose artifact the generator reads." },
);
export type GeneratorSourceReference = s.Infer<typeof generatorSourceReference>;

export const copyStrategies = ["Overwrite", "Merge", "Extract"] as const;
export type CopyStrategy = (typeof copyStrategies)[number];

export const copyOperation = s.object(
  {
    from: s.string({ maxLength: 1024, pattern: "^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$", description: "Source path '@<alias>/<path or glob>' ('*', '?', '[…]' and '**' across directories)." }),
    to: s.string({ maxLength: 1024, pattern: "^@(artifact)/(.*)$", description: "Destination '@artifact/<path>'; a trailing '/' names a directory." }),
    exclude: s.array(s.string(), { description: "Globs of files left out, matched against the path in the source and the path under the from prefix; a pattern without '/' matches file names at any depth." }),
    strategy: s.enumOf(copyStrategies, { description: "Overwrite (default) replaces files; Merge merges YAML into an existing file (arrays replaced, as Helm's --values); Extract unpacks .tar.gz/.tgz archives." }),
  },
  { required: ["from", "to"], description: "One copy rule, applied in order like cp." },
);
export type CopyOperation = s.Infer<typeof copyOperation>;

export const outputArtifact = s.object(
  {
    name: s.string({ maxLength: 253, pattern: "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", description: "Name of the ExternalArtifact generated." }),
    revision: s.string({ maxLength: 64, pattern: "^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$", description: "'@<alias>': take that source's revision; default 'latest@<digest of the artifact>'." }),
    originRevision: s.string({ maxLength: 64, pattern: "^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$", description: "'@<alias>': record that source's (origin) revision as the artifact's origin revision." }),
    copy: s.array(copyOperation, { minItems: 1, description: "Copy rules, applied in order." }),
  },
  { required: ["name", "copy"], description: "An ExternalArtifact to generate." },
);
export type OutputArtifact = s.Infer<typeof outputArtifact>;

export const artifactGeneratorSpec = s.object(
  {
    commonMetadata: s.object({ labels: s.map(s.string()), annotations: s.map(s.string()) }, { description: "Labels and annotations set on every generated ExternalArtifact." }),
    sources: s.array(generatorSourceReference, { minItems: 1, description: "The sources read." }),
    artifacts: s.array(outputArtifact, { minItems: 1, description: "The ExternalArtifacts generated." }),
  },
  { required: ["sources", "artifacts"], description: "ArtifactGeneratorSpec defines the sources and the artifacts generated from them." },
);
export type ArtifactGeneratorSpec = s.Infer<typeof artifactGeneratorSpec>;

export const externalArtifactReference = s.object(
  {
    name: s.string(),
    namespace: s.string(),
    digest: s.string({ description: "Digest of the artifact's tarball." }),
    filename: s.string({ description: "File name of the artifact in storage." }),
  },
  { required: ["name", "namespace", "digest", "filename"], description: "A generated ExternalArtifact." },
);
export type ExternalArtifactReference = s.Infer<typeof externalArtifactReference>;

export const artifactGeneratorStatus = s.object(
  {
    ...reconcileStatusFields,
    inventory: s.array(externalArtifactReference, { description: "The ExternalArtifacts generated at the last success." }),
    observedSourcesDigest: s.string({ description: "Digest of the sources' revisions and digests at the last success." }),
  },
  { description: "ArtifactGeneratorStatus records the observed state of an ArtifactGenerator." },
);
export type ArtifactGeneratorStatus = s.Infer<typeof artifactGeneratorStatus>;

export const ArtifactGeneratorKind = defineKind({
  group: SourceExtensionsGroup,
  version: SourceExtensionsVersion,
  kind: "ArtifactGenerator",
  plural: "artifactgenerators",
  singular: "artifactgenerator",
  shortNames: ["ag"],
  description: "ArtifactGenerator is the Schema for the artifactgenerators API.",
  spec: artifactGeneratorSpec,
  status: artifactGeneratorStatus,
  printerColumns: [
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ],
});
// The spec has no suspend field (the reconcile annotation below disables reconciliation, as in Flux); it is
// typed as never set so the runtime's generic suspend check applies.
export type ArtifactGenerator = TypedObject<ArtifactGeneratorSpec & { suspend?: undefined }, ArtifactGeneratorStatus>;

export const ArtifactGeneratorFinalizer = "source.extensions.fluxcd.io/finalizer";
/** Label on generated ExternalArtifacts: the UID of their generator. */
export const ArtifactGeneratorLabel = "source.extensions.fluxcd.io/generator";
/** Annotation that disables reconciliation when its value is 'disabled' (any case). */
export const ArtifactGeneratorReconcileAnnotation = "source.extensions.fluxcd.io/reconcile";
/** Metadata key of an artifact's origin revision (as `flux push artifact` sets it). */
export const ArtifactOriginRevisionKey = "org.opencontainers.image.revision";

export const GeneratorValidationFailedReason = "ValidationFailed";
export const SourceFetchFailedReason = "SourceFetchFailed";
export const GeneratorBuildFailedReason = "BuildFailed";
export const ReconciliationDisabledReason = "ReconciliationDisabled";
