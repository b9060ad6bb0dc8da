// kustomize.toolkit.fluxcd.io/v1 — Kustomization. Field names and semantics follow Flux's published v1 API.
import * as s from "./schema";
import { defineKind } from "./crd";
import { durationPattern, localObjectReference, reconcileStatusFields, type TypedObject } from "./meta";

export const KustomizeGroup = "kustomize.toolkit.fluxcd.io";
export const KustomizeVersion = "v1";

export const crossNamespaceSourceReference = s.object(
  {
    apiVersion: s.string({ description: "API version of the referent." }),
    kind: s.enumOf(["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"] as const, { description: "Kind of the referent." }),
    name: s.string({ description: "Name of the referent." }),
    namespace: s.string({ description: "Namespace of the referent, defaults to the namespace of the Kustomization." }),
  },
  { required: ["kind", "name"], description: "Reference to the source object that holds the artifact." },
);
export type CrossNamespaceSourceReference = s.Infer<typeof crossNamespaceSourceReference>;

export const dependencyReference = s.object(
  {
    name: s.string({ description: "Name of the referent." }),
    namespace: s.string({ description: "Namespace of the referent, defaults to the namespace of the Kustomization." }),
    readyExpr: s.string({
      description: "CEL expression deciding whether the dependency is ready, with the dependency as 'dep' and this Kustomization as 'self'; it replaces the built-in readiness check.",
    }),
  },
  { required: ["name"], description: "A Kustomization this one depends on." },
);
export type DependencyReference = s.Infer<typeof dependencyReference>;

export const healthCheckReference = s.object(
  {
    apiVersion: s.string({ description: "API version of the referent." }),
    kind: s.string({ description: "Kind of the referent." }),
    name: s.string({ description: "Name of the referent." }),
    namespace: s.string({ description: "Namespace of the referent; for namespaced objects defaults to the Kustomization's target namespace." }),
  },
  { required: ["kind", "name"], description: "An object whose health is checked after apply." },
);
export type HealthCheckReference = s.Infer<typeof healthCheckReference>;

export const customHealthCheck = s.object(
  {
    apiVersion: s.string({ description: "API version of the custom resource the expressions apply to." }),
    kind: s.string({ description: "Kind of the custom resource the expressions apply to." }),
    current: s.string({ description: "CEL expression that is true when the resource is ready (Current)." }),
    inProgress: s.string({ description: "CEL expression that is true when the resource is still being reconciled (InProgress)." }),
    failed: s.string({ description: "CEL expression that is true when the resource failed (Failed)." }),
  },
  { required: ["apiVersion", "kind", "current"], description: "CEL expressions deciding the health of one kind of custom resource; evaluated inProgress, failed, then current." },
);
export type CustomHealthCheck = s.Infer<typeof customHealthCheck>;

export const patchSelector = s.object(
  {
    group: s.string(),
    version: s.string(),
    kind: s.string(),
    name: s.string(),
    namespace: s.string(),
    labelSelector: s.string({ description: "Label selector in the Kubernetes string format." }),
    annotationSelector: s.string({ description: "Annotation selector in the Kubernetes string format." }),
  },
  { description: "Which objects of the build a patch applies to." },
);

export const patch = s.object(
  {
    patch: s.string({ description: "An inline strategic merge patch or a JSON6902 patch (YAML or JSON)." }),
    target: patchSelector,
  },
  { required: ["patch"], description: "A kustomize patch applied to the build." },
);
export type KustomizePatch = s.Infer<typeof patch>;

export const image = s.object(
  {
    name: s.string({ description: "Image name to match in the manifests (without tag)." }),
    newName: s.string({ description: "Replacement image name." }),
    newTag: s.string({ description: "Replacement tag." }),
    digest: s.string({ description: "Replacement digest; takes precedence over newTag." }),
  },
  { required: ["name"], description: "A kustomize image override." },
);
export type KustomizeImage = s.Infer<typeof image>;

export const substituteReference = s.object(
  {
    kind: s.enumOf(["Secret", "ConfigMap"] as const, { description: "Kind of the values referent." }),
    name: s.string({ description: "Name of the values referent, in the Kustomization's namespace." }),
    optional: s.boolean({ default: false, description: "When true a missing referent is not an error." }),
  },
  { required: ["kind", "name"], description: "A ConfigMap or Secret whose data are substitution variables." },
);
export type SubstituteReference = s.Infer<typeof substituteReference>;

export const postBuild = s.object(
  {
    substitute: s.map(s.string(), { description: "Variables substituted in the built manifests (${var}, ${var:=default}); they take precedence over substituteFrom." }),
    substituteFrom: s.array(substituteReference, { description: "ConfigMaps and Secrets holding variables; later entries override earlier ones." }),
  },
  { description: "Operations run on the build output before it is applied." },
);
export type PostBuild = s.Infer<typeof postBuild>;

export const kustomizationSpec = s.object(
  {
    sourceRef: crossNamespaceSourceReference,
    path: s.string({ description: "Path to the directory with the kustomization.yaml, relative to the artifact root; defaults to the root." }),
    interval: s.string({ pattern: durationPattern, description: "How often the artifact is applied (drift is also corrected on change by Mooring)." }),
    retryInterval: s.string({ pattern: durationPattern, description: "Interval after a failed reconcile; defaults to interval." }),
    timeout: s.string({ pattern: durationPattern, description: "Timeout for build, apply and health checks; defaults to interval." }),
    prune: s.boolean({ description: "Delete objects that left the build (and all on deletion, per deletionPolicy)." }),
    wait: s.boolean({ description: "Wait for every applied object to become ready; healthChecks are then ignored." }),
    healthChecks: s.array(healthCheckReference, { description: "Objects whose health is checked after apply." }),
    healthCheckExprs: s.array(customHealthCheck, { description: "CEL health expressions for custom resources, used by the health checks (spec.wait or spec.healthChecks)." }),
    dependsOn: s.array(dependencyReference, { description: "Kustomizations that must be Ready at their latest revision first." }),
    force: s.boolean({ default: false, description: "Recreate objects whose immutable fields changed." }),
    suspend: s.boolean({ description: "Suspend stops the reconciliation of this object." }),
    targetNamespace: s.string({ description: "Namespace set on all namespaced objects of the build." }),
    namePrefix: s.string({ description: "Prefix added to the names of all objects." }),
    nameSuffix: s.string({ description: "Suffix added to the names of all objects." }),
    commonMetadata: s.object(
      { labels: s.map(s.string()), annotations: s.map(s.string()) },
      { description: "Labels and annotations added to all objects (not to selectors)." },
    ),
    patches: s.array(patch, { description: "Strategic merge and JSON6902 patches applied to the build." }),
    images: s.array(image, { description: "Image overrides applied to the build." }),
    components: s.array(s.string(), { description: "Kustomize components (paths relative to path) included in the build." }),
    ignoreMissingComponents: s.boolean({ description: "Leave out components that do not exist instead of failing." }),
    postBuild,
    serviceAccountName: s.string({ description: "ServiceAccount (in this namespace) impersonated to apply, prune and check health." }),
    deletionPolicy: s.enumOf(["MirrorPrune", "Delete", "WaitForTermination", "Orphan"] as const, {
      description: "What happens to applied objects when the Kustomization is deleted; MirrorPrune follows spec.prune.",
    }),
    decryption: s.object({ provider: s.string(), secretRef: localObjectReference }, { description: "SOPS decryption (not supported by Mooring yet)." }),
    kubeConfig: s.object({ secretRef: s.object({ name: s.string(), key: s.string() }) }, { description: "Remote cluster kubeconfig (not supported by Mooring yet)." }),
  },
  { required: ["sourceRef", "interval", "prune"], description: "KustomizationSpec defines the configuration to calculate the desired state from a source." },
);
export type KustomizationSpec = s.Infer<typeof kustomizationSpec>;

export const inventoryEntry = s.object(
  {
    id: s.string({ description: "<namespace>_<name>_<group>_<kind> of the object." }),
    v: s.string({ description: "API version of the object." }),
  },
  { required: ["id", "v"], description: "One applied object." },
);
export type InventoryEntry = s.Infer<typeof inventoryEntry>;

export const snapshot = s.object(
  {
    digest: s.string({ description: "Checksum of the applied manifests, in the form '<algorithm>:<hex>'." }),
    firstReconciled: s.string({ format: "date-time", description: "When these manifests were first reconciled with this status." }),
    lastReconciled: s.string({ format: "date-time", description: "When these manifests were last reconciled with this status." }),
    lastReconciledDuration: s.string({ description: "How long the last of these reconciliations took (a Go duration, e.g. 2.818s)." }),
    lastReconciledStatus: s.string({ description: "Reason the last of these reconciliations ended with, e.g. ReconciliationSucceeded." }),
    totalReconciliations: s.integer({ format: "int64", description: "How many reconciliations ended with this digest and status." }),
    metadata: s.map(s.string(), { description: "Details of the snapshot: the source revision (revision) and origin revision (originRevision)." }),
  },
  {
    required: ["digest", "firstReconciled", "lastReconciled", "lastReconciledDuration", "lastReconciledStatus", "totalReconciliations"],
    description: "One entry of the reconciliation history: a digest of the manifests and how reconciling them went.",
  },
);
export type Snapshot = s.Infer<typeof snapshot>;

export const kustomizationStatus = s.object(
  {
    ...reconcileStatusFields,
    lastAppliedRevision: s.string({ description: "Revision of the last successfully applied source." }),
    lastAppliedOriginRevision: s.string({ description: "Origin revision of the last applied source (OCI)." }),
    lastAttemptedRevision: s.string({ description: "Revision of the last reconciliation attempt." }),
    inventory: s.object({ entries: s.array(inventoryEntry) }, { required: ["entries"], description: "The objects applied by the last successful reconcile." }),
    history: s.array(snapshot, { description: "The last reconciliations (at most 5), most recent first, one entry per digest and status." }),
  },
  { description: "KustomizationStatus defines the observed state of a Kustomization." },
);
export type KustomizationStatus = s.Infer<typeof kustomizationStatus>;

export const KustomizationKind = defineKind({
  group: KustomizeGroup,
  version: KustomizeVersion,
  kind: "Kustomization",
  plural: "kustomizations",
  singular: "kustomization",
  shortNames: ["ks"],
  description: "Kustomization is the Schema for the kustomizations API.",
  spec: kustomizationSpec,
  status: kustomizationStatus,
  printerColumns: [
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ],
});

export type Kustomization = TypedObject<KustomizationSpec, KustomizationStatus>;

// Condition types and reasons (Flux's vocabulary).
export const HealthyCondition = "Healthy";

export const ReconciliationSucceededReason = "ReconciliationSucceeded";
export const ReconciliationFailedReason = "ReconciliationFailed";
export const BuildFailedReason = "BuildFailed";
export const HealthCheckFailedReason = "HealthCheckFailed";
export const HealthCheckSucceededReason = "HealthCheckSucceeded";
export const DependencyNotReadyReason = "DependencyNotReady";
export const PruneFailedReason = "PruneFailed";
export const AccessDeniedReason = "AccessDenied";
export const ProgressingReason = "Progressing";

// Annotations and labels on applied objects.
export const KustomizeNameLabel = `${KustomizeGroup}/name`;
export const KustomizeNamespaceLabel = `${KustomizeGroup}/namespace`;
export const SSAAnnotation = `${KustomizeGroup}/ssa`;
export const ForceAnnotation = `${KustomizeGroup}/force`;
export const PruneAnnotation = `${KustomizeGroup}/prune`;
export const ReconcileAnnotation = `${KustomizeGroup}/reconcile`;
export const SubstituteAnnotation = `${KustomizeGroup}/substitute`;
