// helm.toolkit.fluxcd.io/v2 — HelmRelease. Field names and semantics follow Flux's published v2 API; dependsOn
// also accepts a Kustomization (kind/apiVersion), which Flux does not.
import * as s from "./schema";
import { defineKind } from "./crd";
import { durationPattern, reconcileStatusFields, type TypedObject } from "./meta";

export const HelmGroup = "helm.toolkit.fluxcd.io";
export const HelmVersion = "v2";

const wait = {
  disableWait: s.boolean({ description: "Do not wait for the release's resources to be ready (Helm --wait is on by default)." }),
  disableWaitForJobs: s.boolean({ description: "Do not wait for the release's Jobs to complete." }),
  disableHooks: s.boolean({ description: "Do not run the chart's hooks for this action." }),
};
const timeout = s.string({ pattern: durationPattern, description: "Time to wait for any individual Kubernetes operation of this action; defaults to spec.timeout." });
const crdsPolicy = s.enumOf(["Skip", "Create", "CreateReplace"] as const, {
  description: "What to do with the chart's crds/ directory: Skip, Create (only missing ones) or CreateReplace (create missing, replace existing).",
});

export const helmChartTemplate = s.object(
  {
    metadata: s.object({ labels: s.map(s.string()), annotations: s.map(s.string()) }, { description: "Labels and annotations of the HelmChart created." }),
    spec: s.object(
      {
        chart: s.string({ maxLength: 2048, minLength: 1, description: "Name or path of the chart in the source." }),
        version: s.string({ default: "*", description: "Version or semver range of the chart (HelmRepository sources); defaults to '*'." }),
        sourceRef: s.object(
          {
            apiVersion: s.string(),
            kind: s.enumOf(["HelmRepository", "GitRepository", "Bucket"] as const),
            name: s.string({ maxLength: 253, minLength: 1 }),
            namespace: s.string({ maxLength: 63, minLength: 1, description: "Namespace of the source; defaults to the HelmRelease's." }),
          },
          { required: ["kind", "name"], description: "The source the chart comes from." },
        ),
        interval: s.string({ pattern: durationPattern, description: "How often the HelmChart is checked for updates; defaults to the HelmRelease's interval." }),
        reconcileStrategy: s.enumOf(["ChartVersion", "Revision"] as const, { default: "ChartVersion", description: "What makes a new chart artifact." }),
        valuesFiles: s.array(s.string(), { description: "Values files merged into the chart's default values, in order." }),
        ignoreMissingValuesFiles: s.boolean({ description: "Leave out values files that do not exist instead of failing." }),
        verify: s.object({ provider: s.string(), secretRef: s.object({ name: s.string() }, { required: ["name"] }) }, { description: "Signature verification of OCI charts (not supported by Mooring yet)." }),
      },
      { required: ["chart", "sourceRef"] },
    ),
  },
  { required: ["spec"], description: "Template of the HelmChart the controller creates (<namespace>-<name> in the source's namespace)." },
);
export type HelmChartTemplate = s.Infer<typeof helmChartTemplate>;

export const helmChartReference = s.object(
  {
    apiVersion: s.string(),
    kind: s.enumOf(["OCIRepository", "HelmChart", "ExternalArtifact"] as const),
    name: s.string({ maxLength: 253, minLength: 1 }),
    namespace: s.string({ maxLength: 63, minLength: 1, description: "Namespace of the source; defaults to the HelmRelease's." }),
  },
  { required: ["kind", "name"], description: "An existing OCIRepository or HelmChart holding the chart artifact." },
);
export type HelmChartReference = s.Infer<typeof helmChartReference>;

export const helmDependencyReference = s.object(
  {
    apiVersion: s.string({ description: "API version of the dependency (Mooring: set with kind to depend on a Kustomization)." }),
    kind: s.enumOf(["HelmRelease", "Kustomization"] as const, { description: "Kind of the dependency; defaults to HelmRelease (Mooring accepts Kustomization too)." }),
    name: s.string(),
    namespace: s.string({ description: "Namespace of the dependency; defaults to the HelmRelease's." }),
    readyExpr: s.string({ description: "CEL expression deciding whether the dependency is ready, with the dependency as 'dep' and this object as 'self'." }),
  },
  { required: ["name"], description: "An object that must be Ready first." },
);
export type HelmDependencyReference = s.Infer<typeof helmDependencyReference>;

export const valuesReference = s.object(
  {
    kind: s.enumOf(["Secret", "ConfigMap"] as const),
    name: s.string({ maxLength: 253, minLength: 1 }),
    valuesKey: s.string({ maxLength: 253, description: "Data key of the values; defaults to values.yaml." }),
    targetPath: s.string({ maxLength: 250, description: "Dot-separated path the value is set at (Helm --set syntax); without it the key holds YAML values merged at the root." }),
    optional: s.boolean({ description: "A missing object or key is not an error." }),
  },
  { required: ["kind", "name"], description: "A ConfigMap or Secret in the HelmRelease's namespace holding values." },
);
export type ValuesReference = s.Infer<typeof valuesReference>;

const remediationRetries = s.integer({ description: "Failed attempts retried before giving up; a negative value retries forever. Default 0." });

export const installSpec = s.object(
  {
    timeout,
    remediation: s.object(
      {
        retries: remediationRetries,
        ignoreTestFailures: s.boolean({ description: "Do not remediate after failing tests." }),
        remediateLastFailure: s.boolean({ description: "Remediate (uninstall) after the last retry failed too; default true when retries > 0." }),
      },
      { description: "What happens after a failed install." },
    ),
    strategy: s.object(
      { name: s.enumOf(["RemediateOnFailure", "RetryOnFailure"] as const), retryInterval: s.string({ pattern: durationPattern, description: "Wait before a retry (RetryOnFailure); default 5m." }) },
      { required: ["name"], description: "RemediateOnFailure (default) or RetryOnFailure (retry without remediation)." },
    ),
    ...wait,
    disableOpenAPIValidation: s.boolean(),
    disableSchemaValidation: s.boolean(),
    disableTakeOwnership: s.boolean(),
    replace: s.boolean({ description: "Reuse the name of a deleted release that is still in the history." }),
    skipCRDs: s.boolean({ description: "Deprecated: use crds: Skip." }),
    crds: crdsPolicy,
    createNamespace: s.boolean({ description: "Create the target namespace if it does not exist." }),
  },
  { description: "Helm install options." },
);

export const upgradeSpec = s.object(
  {
    timeout,
    remediation: s.object(
      {
        retries: remediationRetries,
        ignoreTestFailures: s.boolean(),
        remediateLastFailure: s.boolean(),
        strategy: s.enumOf(["rollback", "uninstall"] as const, { description: "How a failed upgrade is remediated; default rollback." }),
      },
      { description: "What happens after a failed upgrade." },
    ),
    strategy: s.object(
      { name: s.enumOf(["RemediateOnFailure", "RetryOnFailure"] as const), retryInterval: s.string({ pattern: durationPattern }) },
      { required: ["name"] },
    ),
    ...wait,
    disableOpenAPIValidation: s.boolean(),
    disableSchemaValidation: s.boolean(),
    disableTakeOwnership: s.boolean(),
    force: s.boolean({ description: "Replace resources that cannot be updated in place." }),
    preserveValues: s.boolean({ description: "Reuse the last release's values, merged with the new ones." }),
    cleanupOnFail: s.boolean({ description: "Delete resources the failed upgrade created." }),
    crds: crdsPolicy,
  },
  { description: "Helm upgrade options." },
);

export const testSpec = s.object(
  {
    enable: s.boolean({ description: "Run the chart's tests after each install and upgrade." }),
    timeout,
    ignoreFailures: s.boolean({ description: "Failed tests do not fail the release." }),
    filters: s.array(s.object({ name: s.string(), exclude: s.boolean() }, { required: ["name"] }), { description: "Tests run (or excluded), by name." }),
  },
  { description: "Helm test options." },
);

export const rollbackSpec = s.object(
  { timeout, ...wait, recreate: s.boolean(), force: s.boolean(), cleanupOnFail: s.boolean() },
  { description: "Helm rollback options (remediation of a failed upgrade)." },
);

export const uninstallSpec = s.object(
  {
    timeout,
    disableHooks: s.boolean(),
    keepHistory: s.boolean({ description: "Keep the release history after uninstall." }),
    disableWait: s.boolean(),
    deletionPropagation: s.enumOf(["background", "foreground", "orphan"] as const, { default: "background" }),
  },
  { description: "Helm uninstall options (deletion of the HelmRelease, remediation)." },
);

export const postRenderer = s.object(
  {
    kustomize: s.object(
      {
        patches: s.array(
          s.object(
            {
              patch: s.string(),
              target: s.object({ group: s.string(), version: s.string(), kind: s.string(), name: s.string(), namespace: s.string(), labelSelector: s.string(), annotationSelector: s.string() }),
            },
            { required: ["patch"] },
          ),
        ),
        images: s.array(s.object({ name: s.string(), newName: s.string(), newTag: s.string(), digest: s.string() }, { required: ["name"] })),
      },
      { description: "Kustomize patches and image overrides applied to the rendered manifests." },
    ),
  },
  { description: "A post-renderer applied to the rendered manifests before they are applied." },
);
export type PostRenderer = s.Infer<typeof postRenderer>;

export const driftDetection = s.object(
  {
    mode: s.enumOf(["enabled", "warn", "disabled"] as const, { description: "enabled corrects drift, warn only reports it; default disabled." }),
    ignore: s.array(
      s.object(
        {
          paths: s.array(s.string(), { description: "JSON pointers to ignore, e.g. /spec/replicas." }),
          target: s.object({ group: s.string(), version: s.string(), kind: s.string(), name: s.string(), namespace: s.string(), labelSelector: s.string(), annotationSelector: s.string() }),
        },
        { required: ["paths"] },
      ),
    ),
  },
  { description: "How drift of the release's objects in the cluster is detected and corrected." },
);
export type DriftDetection = s.Infer<typeof driftDetection>;

export const helmReleaseSpec = s.object(
  {
    chart: helmChartTemplate,
    chartRef: helmChartReference,
    interval: s.string({ pattern: durationPattern, description: "How often the release is reconciled." }),
    kubeConfig: s.object({ secretRef: s.object({ name: s.string(), key: s.string() }) }, { description: "Remote cluster kubeconfig (not supported by Mooring yet)." }),
    suspend: s.boolean({ description: "Suspend stops the reconciliation of this object." }),
    releaseName: s.string({ maxLength: 53, minLength: 1, description: "Name of the Helm release; defaults to [<targetNamespace>-]<name>." }),
    targetNamespace: s.string({ maxLength: 63, minLength: 1, description: "Namespace the release is installed into; defaults to the HelmRelease's." }),
    storageNamespace: s.string({ maxLength: 63, minLength: 1, description: "Namespace of the release's Helm storage Secrets; defaults to the HelmRelease's." }),
    dependsOn: s.array(helmDependencyReference, { description: "HelmReleases (or Kustomizations) that must be Ready first." }),
    timeout: s.string({ pattern: durationPattern, description: "Default time Helm waits per action; default 5m." }),
    maxHistory: s.integer({ description: "Release versions kept in storage; 0 is unlimited; default 5." }),
    serviceAccountName: s.string({ maxLength: 253, minLength: 1, description: "ServiceAccount (in this namespace) impersonated for all Helm actions." }),
    persistentClient: s.boolean(),
    driftDetection,
    install: installSpec,
    upgrade: upgradeSpec,
    test: testSpec,
    rollback: rollbackSpec,
    uninstall: uninstallSpec,
    valuesFrom: s.array(valuesReference, { description: "Values from ConfigMaps and Secrets, merged in order; spec.values are merged last." }),
    values: s.unknownObject({ description: "Values merged over the chart's defaults and valuesFrom." }),
    postRenderers: s.array(postRenderer),
    commonMetadata: s.object({ labels: s.map(s.string()), annotations: s.map(s.string()) }, { description: "Labels and annotations added to all the release's objects." }),
  },
  { required: ["interval"], description: "HelmReleaseSpec defines the desired state of a Helm release." },
);
export type HelmReleaseSpec = s.Infer<typeof helmReleaseSpec>;

export const helmReleaseSnapshot = s.object(
  {
    apiVersion: s.string(),
    digest: s.string({ description: "Checksum of the release object in storage." }),
    name: s.string(),
    namespace: s.string(),
    version: s.integer(),
    status: s.string(),
    chartName: s.string(),
    chartVersion: s.string(),
    appVersion: s.string(),
    configDigest: s.string({ description: "Checksum of the release's values." }),
    firstDeployed: s.string({ format: "date-time" }),
    lastDeployed: s.string({ format: "date-time" }),
    deleted: s.string({ format: "date-time" }),
    testHooks: s.map(s.object({ lastStarted: s.string(), lastCompleted: s.string(), phase: s.string() })),
    ociDigest: s.string(),
  },
  { required: ["digest", "name", "namespace", "version", "status", "chartName", "chartVersion", "configDigest", "firstDeployed", "lastDeployed"], description: "A release version as Helm stored it." },
);
export type HelmReleaseSnapshot = s.Infer<typeof helmReleaseSnapshot>;

export const helmReleaseStatus = s.object(
  {
    ...reconcileStatusFields,
    observedPostRenderersDigest: s.string(),
    observedCommonMetadataDigest: s.string(),
    lastAttemptedGeneration: s.integer({ format: "int64" }),
    helmChart: s.string({ description: "<namespace>/<name> of the HelmChart made from spec.chart." }),
    storageNamespace: s.string(),
    history: s.array(helmReleaseSnapshot, { description: "Release versions, newest first." }),
    lastAttemptedReleaseAction: s.enumOf(["install", "upgrade"] as const),
    failures: s.integer({ format: "int64", description: "Failed reconciles since the last success." }),
    installFailures: s.integer({ format: "int64" }),
    upgradeFailures: s.integer({ format: "int64" }),
    lastAttemptedRevision: s.string({ description: "Chart version (or artifact revision) of the last attempt." }),
    lastAttemptedRevisionDigest: s.string(),
    lastAttemptedValuesChecksum: s.string(),
    lastAttemptedConfigDigest: s.string({ description: "Checksum of the values of the last attempt." }),
    lastHandledForceAt: s.string(),
    lastHandledResetAt: s.string(),
  },
  { description: "HelmReleaseStatus defines the observed state of a HelmRelease." },
);
export type HelmReleaseStatus = s.Infer<typeof helmReleaseStatus>;

export const HelmReleaseKind = defineKind({
  group: HelmGroup,
  version: HelmVersion,
  kind: "HelmRelease",
  plural: "helmreleases",
  singular: "helmrelease",
  shortNames: ["hr"],
  description: "HelmRelease is the Schema for the helmreleases API.",
  spec: helmReleaseSpec,
  status: helmReleaseStatus,
  printerColumns: [
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ],
});

export type HelmRelease = TypedObject<HelmReleaseSpec, HelmReleaseStatus>;

// Condition types and reasons (Flux's vocabulary).
export const ReleasedCondition = "Released";
export const TestSuccessCondition = "TestSuccess";
export const RemediatedCondition = "Remediated";

export const InstallSucceededReason = "InstallSucceeded";
export const InstallFailedReason = "InstallFailed";
export const UpgradeSucceededReason = "UpgradeSucceeded";
export const UpgradeFailedReason = "UpgradeFailed";
export const TestSucceededReason = "TestSucceeded";
export const TestFailedReason = "TestFailed";
export const RollbackSucceededReason = "RollbackSucceeded";
export const RollbackFailedReason = "RollbackFailed";
export const UninstallSucceededReason = "UninstallSucceeded";
export const UninstallFailedReason = "UninstallFailed";
export const InitFailedReason = "InitFailed";
export const GetLastReleaseFailedReason = "GetLastReleaseFailed";
export const DriftDetectedReason = "DriftDetected";
export const HelmReleaseSucceededReason = "ReconciliationSucceeded";

/** Labels Helm's post-render step puts on every object of a release (Flux's origin labels). */
export const HelmNameLabel = `${HelmGroup}/name`;
export const HelmNamespaceLabel = `${HelmGroup}/namespace`;
/** Annotation asking for a one-off forced upgrade (handled like reconcile.fluxcd.io/requestedAt). */
export const ForceRequestAnnotation = "reconcile.fluxcd.io/forceAt";
/** Annotation asking to reset the failure counters. */
export const ResetRequestAnnotation = "reconcile.fluxcd.io/resetAt";
/** The annotation the helm-controller's events carry the chart revision under. */
export const HelmRevisionMetadataKey = `${HelmGroup}/revision`;
