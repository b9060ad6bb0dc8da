// source.toolkit.fluxcd.io/v1 — HelmRepository and HelmChart. Field names, defaults, printer columns and
// semantics follow Flux's published v1 API.
import * as s from "./schema";
import { defineKind } from "./crd";
import { durationPattern, localObjectReference, reconcileStatusFields, type TypedObject } from "./meta";
import { artifact, SourceGroup, SourceVersion } from "./source";

/** Flux's timeout pattern (no hours). */
const timeoutPattern = "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$";

const accessFrom = s.object(
  {
    namespaceSelectors: s.array(s.object({ matchLabels: s.map(s.string()) }), { description: "Namespaces allowed to refer to this object, by label." }),
  },
  { required: ["namespaceSelectors"], description: "Access control list for cross-namespace references (provisional in Flux, not enforced)." },
);

export const helmRepositorySpec = s.object(
  {
    url: s.string({ pattern: "^(http|https|oci)://.*$", description: "URL of the Helm repository: http(s) for an index.yaml repository, oci:// for an OCI registry." }),
    secretRef: s.object({ name: s.string() }, { required: ["name"], description: "Secret with 'username' and 'password' for HTTP basic auth (TLS keys here are deprecated: use certSecretRef)." }),
    certSecretRef: s.object({ name: s.string() }, { required: ["name"], description: "Secret with 'tls.crt' and 'tls.key' (client certificate) and/or 'ca.crt' (CA); takes precedence over TLS data in secretRef." }),
    passCredentials: s.boolean({ description: "Send the secretRef credentials also to hosts other than the URL's (chart URLs in the index on another host)." }),
    interval: s.string({ pattern: durationPattern, description: "How often the index is fetched (type 'default')." }),
    insecure: s.boolean({ description: "Allow a plain-HTTP container registry (type 'oci' only)." }),
    timeout: s.string({ pattern: timeoutPattern, description: "Timeout of the index fetch, and of registry operations for type 'oci'. Default 60s." }),
    suspend: s.boolean({ description: "Suspend stops the reconciliation of this object." }),
    accessFrom,
    type: s.enumOf(["default", "oci"] as const, { description: "Type of the repository: 'default' (index.yaml over HTTP(S)) or 'oci'." }),
    provider: s.enumOf(["generic", "aws", "azure", "gcp"] as const, { default: "generic", description: "Authentication provider (type 'oci' only); 'generic' uses secretRef." }),
  },
  { required: ["url"], description: "HelmRepositorySpec specifies the Helm repository to produce an index artifact for." },
);
export type HelmRepositorySpec = s.Infer<typeof helmRepositorySpec>;

export const helmRepositoryStatus = s.object(
  {
    ...reconcileStatusFields,
    url: s.string({ description: "Address of the current index artifact (best effort; prefer artifact.url)." }),
    artifact,
  },
  { description: "HelmRepositoryStatus records the observed state of a HelmRepository." },
);
export type HelmRepositoryStatus = s.Infer<typeof helmRepositoryStatus>;

export const HelmRepositoryKind = defineKind({
  group: SourceGroup,
  version: SourceVersion,
  kind: "HelmRepository",
  plural: "helmrepositories",
  singular: "helmrepository",
  shortNames: ["helmrepo"],
  description: "HelmRepository is the Schema for the helmrepositories API.",
  spec: helmRepositorySpec,
  status: helmRepositoryStatus,
  printerColumns: [
    { name: "URL", type: "string", jsonPath: ".spec.url" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ],
});
export type HelmRepository = TypedObject<HelmRepositorySpec, HelmRepositoryStatus>;

export const helmChartSourceRef = s.object(
  {
    apiVersion: s.string({ description: "APIVersion of the referent." }),
    kind: s.enumOf(["HelmRepository", "GitRepository", "Bucket"] as const, { description: "Kind of the referent." }),
    name: s.string({ description: "Name of the referent." }),
  },
  { required: ["kind", "name"], description: "The source the chart comes from, in the HelmChart's namespace." },
);

export const helmChartSpec = s.object(
  {
    chart: s.string({ description: "Name of the chart (HelmRepository) or path of the chart directory (GitRepository, Bucket)." }),
    version: s.string({ default: "*", description: "Exact version or semver range (Helm's constraint syntax) of the chart; ignored for charts from a GitRepository or Bucket." }),
    sourceRef: helmChartSourceRef,
    interval: s.string({ pattern: durationPattern, description: "How often the source is checked for a new chart." }),
    reconcileStrategy: s.enumOf(["ChartVersion", "Revision"] as const, { default: "ChartVersion", description: "When a new artifact is made: on a new chart version, or on every new source revision." }),
    valuesFiles: s.array(s.string(), { description: "Values files (paths in the source) merged in order into the chart's values.yaml." }),
    ignoreMissingValuesFiles: s.boolean({ description: "Skip values files that are not found instead of failing." }),
    suspend: s.boolean({ description: "Suspend stops the reconciliation of this object." }),
    accessFrom,
    verify: s.object(
      { provider: s.enumOf(["cosign", "notation"] as const, { default: "cosign" }), secretRef: localObjectReference, matchOIDCIdentity: s.array(s.object({ issuer: s.string(), subject: s.string() }, { required: ["issuer", "subject"] })) },
      { required: ["provider"], description: "Signature verification of OCI charts (not supported by Mooring yet)." },
    ),
  },
  { required: ["chart", "sourceRef", "interval"], description: "HelmChartSpec specifies the chart to package or pull and its source." },
);
export type HelmChartSpec = s.Infer<typeof helmChartSpec>;

export const helmChartStatus = s.object(
  {
    ...reconcileStatusFields,
    observedSourceArtifactRevision: s.string({ description: "Revision of the source artifact the chart was last built from." }),
    observedChartName: s.string({ description: "The chart name of the last build." }),
    observedValuesFiles: s.array(s.string(), { description: "The values files of the last build that were found." }),
    url: s.string({ description: "Address of the current chart artifact (best effort; prefer artifact.url)." }),
    artifact,
  },
  { description: "HelmChartStatus records the observed state of a HelmChart." },
);
export type HelmChartStatus = s.Infer<typeof helmChartStatus>;

export const HelmChartKind = defineKind({
  group: SourceGroup,
  version: SourceVersion,
  kind: "HelmChart",
  plural: "helmcharts",
  singular: "helmchart",
  shortNames: ["hc"],
  description: "HelmChart is the Schema for the helmcharts API.",
  spec: helmChartSpec,
  status: helmChartStatus,
  printerColumns: [
    { name: "Chart", type: "string", jsonPath: ".spec.chart" },
    { name: "Version", type: "string", jsonPath: ".spec.version" },
    { name: "Source Kind", type: "string", jsonPath: ".spec.sourceRef.kind" },
    { name: "Source Name", type: "string", jsonPath: ".spec.sourceRef.name" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ],
});
export type HelmChart = TypedObject<HelmChartSpec, HelmChartStatus>;

// Reasons specific to Helm sources (Flux's vocabulary).
export const IndexationFailedReason = "IndexationFailed";
export const ChartPullSucceededReason = "ChartPullSucceeded";
export const ChartPackageSucceededReason = "ChartPackageSucceeded";
export const BuildFailedCondition = "BuildFailed";
export const ChartPullErrorReason = "ChartPullError";
export const ChartPackageErrorReason = "ChartPackageError";
export const ValuesFilesErrorReason = "ValuesFilesError";
export const ArchiveOperationFailedReason = "ArchiveOperationFailed";
/** Helm's default index size limit (Flux's --helm-index-max-size). */
export const defaultHelmIndexMaxSize = 50 * 1024 * 1024;
/** Helm's default chart size limit (Flux's --helm-chart-max-size). */
export const defaultHelmChartMaxSize = 10 * 1024 * 1024;
/** Largest single file of a chart when it is loaded (Flux's --helm-chart-file-max-size). */
export const defaultHelmChartFileMaxSize = 5 * 1024 * 1024;
