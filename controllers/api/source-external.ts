// source.toolkit.fluxcd.io/v1 — ExternalArtifact: an artifact produced outside source-controller (by the
// source-watcher's ArtifactGenerator, or any other producer), consumed by Kustomizations (sourceRef) and
// HelmReleases (chartRef) like any other source. No controller reconciles it: its producer writes the status.
// Field names and semantics follow Flux 2.7's published v1 API.
import * as s from "./schema";
import { defineKind } from "./crd";
import { reconcileStatusFields, type TypedObject } from "./meta";
import { artifact, SourceGroup, SourceVersion } from "./source";

export const namespacedObjectKindReference = s.object(
  {
    apiVersion: s.string({ description: "API version of the referent." }),
    kind: s.string({ description: "Kind of the referent." }),
    name: s.string({ description: "Name of the referent." }),
    namespace: s.string({ description: "Namespace of the referent, when not the same as the referrer's." }),
  },
  { required: ["kind", "name"], description: "A reference to an object of a kind, by name and optional namespace." },
);

export const externalArtifactSpec = s.object(
  { sourceRef: namespacedObjectKindReference },
  { description: "ExternalArtifactSpec names the object that produces the artifact (e.g. an ArtifactGenerator)." },
);
export type ExternalArtifactSpec = s.Infer<typeof externalArtifactSpec>;

export const externalArtifactStatus = s.object(
  { ...reconcileStatusFields, artifact },
  { description: "ExternalArtifactStatus holds the artifact its producer stored, and the Ready condition." },
);
export type ExternalArtifactStatus = s.Infer<typeof externalArtifactStatus>;

export const ExternalArtifactKind = defineKind({
  group: SourceGroup,
  version: SourceVersion,
  kind: "ExternalArtifact",
  plural: "externalartifacts",
  singular: "externalartifact",
  description: "ExternalArtifact is the Schema for the external artifacts API.",
  spec: externalArtifactSpec,
  status: externalArtifactStatus,
  printerColumns: [
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
    { name: "Source", type: "string", jsonPath: ".spec.sourceRef.name" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
});
export type ExternalArtifact = TypedObject<ExternalArtifactSpec, ExternalArtifactStatus>;
