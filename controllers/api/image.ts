// image.toolkit.fluxcd.io/v1 — ImageRepository, ImagePolicy, ImageUpdateAutomation. Field names, defaults,
// printer columns, conditions and reasons follow Flux's published v1 API.
import * as s from "./schema";
import { defineKind } from "./crd";
import { durationPattern, localObjectReference, reconcileStatusFields, type TypedObject } from "./meta";
import { gitRepositoryRef } from "./source";

export const ImageGroup = "image.toolkit.fluxcd.io";
export const ImageVersion = "v1";

const timeoutPattern = "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$";

// ImageRepository

export const defaultExclusionList = ["^.*\\.sig$"];

export const imageRepositorySpec = s.object(
  {
    image: s.string({ description: "Image name without tag, e.g. 'ghcr.io/org/app' (Docker Hub names are expanded: 'app' is 'docker.io/library/app')." }),
    interval: s.string({ pattern: durationPattern, description: "How often the registry is scanned for tags." }),
    timeout: s.string({ pattern: timeoutPattern, description: "Timeout of one scan; default the interval, at most 1m when the interval is larger." }),
    secretRef: localObjectReference,
    serviceAccountName: s.string({ maxLength: 253, description: "ServiceAccount whose image pull secrets authenticate to the registry." }),
    certSecretRef: localObjectReference,
    proxySecretRef: localObjectReference,
    accessFrom: s.object(
      { namespaceSelectors: s.array(s.object({ matchLabels: s.map(s.string()) })) },
      { required: ["namespaceSelectors"], description: "Which namespaces' ImagePolicies may refer to this repository (default: its own namespace only)." },
    ),
    suspend: s.boolean({ description: "Suspend stops the scans of this object." }),
    exclusionList: s.array(s.string(), { default: defaultExclusionList, description: "Regular expressions of tags left out of the scan result (default '^.*\\.sig$')." }),
    provider: s.enumOf(["generic", "aws", "azure", "gcp"] as const, { default: "generic", description: "Authentication provider; 'generic' uses secretRef." }),
    insecure: s.boolean({ description: "Allow a registry over plain HTTP." }),
  },
  { required: ["image", "interval"], description: "ImageRepositorySpec names the image repository to scan." },
);
export type ImageRepositorySpec = s.Infer<typeof imageRepositorySpec>;

export const scanResult = s.object(
  {
    revision: s.string({ description: "A digest of the scanned tags; it changes when the tags change." }),
    tagCount: s.integer({ description: "Number of tags found." }),
    scanTime: s.string({ format: "date-time", description: "When the scan ended." }),
    latestTags: s.array(s.string(), { description: "Up to 10 tags, newest first by reverse alphabetical order." }),
  },
  { required: ["tagCount"] },
);
export type ScanResult = s.Infer<typeof scanResult>;

export const imageRepositoryStatus = s.object(
  {
    ...reconcileStatusFields,
    canonicalImageName: s.string({ description: "The image name as the registry knows it (host and full path)." }),
    lastScanResult: scanResult,
    observedExclusionList: s.array(s.string()),
  },
  { description: "ImageRepositoryStatus records the last scan." },
);
export type ImageRepositoryStatus = s.Infer<typeof imageRepositoryStatus>;

export const ImageRepositoryKind = defineKind({
  group: ImageGroup,
  version: ImageVersion,
  kind: "ImageRepository",
  plural: "imagerepositories",
  singular: "imagerepository",
  description: "ImageRepository is the Schema for the imagerepositories API.",
  spec: imageRepositorySpec,
  status: imageRepositoryStatus,
  printerColumns: [
    { name: "Image", type: "string", jsonPath: ".spec.image" },
    { name: "Tags", type: "integer", jsonPath: ".status.lastScanResult.tagCount" },
    { name: "Last scan", type: "string", jsonPath: ".status.lastScanResult.scanTime" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
});
export type ImageRepository = TypedObject<ImageRepositorySpec, ImageRepositoryStatus>;

// ImagePolicy

const order = s.enumOf(["asc", "desc"] as const, { default: "asc", description: "'asc' picks the last in ascending order, 'desc' the first." });

export const imagePolicyChoice = s.object(
  {
    semver: s.object({ range: s.string({ description: "SemVer range (Masterminds constraint syntax), e.g. '>=1.0.0 <2.0.0'." }) }, { required: ["range"] }),
    alphabetical: s.object({ order }),
    numerical: s.object({ order }),
  },
  { description: "How the latest tag is chosen; exactly one of semver, alphabetical, numerical." },
);
export type ImagePolicyChoice = s.Infer<typeof imagePolicyChoice>;

export const imageRef = s.object(
  {
    name: s.string({ description: "Image name (canonical repository name)." }),
    tag: s.string({ description: "Image tag." }),
    digest: s.string({ description: "Image digest, when digestReflectionPolicy asks for it." }),
  },
  { required: ["name", "tag"] },
);
export type ImageRef = s.Infer<typeof imageRef>;

export const imagePolicySpec = s.object(
  {
    imageRepositoryRef: s.object({ name: s.string(), namespace: s.string() }, { required: ["name"], description: "The ImageRepository whose tags are chosen from." }),
    policy: imagePolicyChoice,
    filterTags: s.object(
      {
        pattern: s.string({ description: "Regular expression a tag must match to be considered." }),
        extract: s.string({ description: "Replacement (e.g. '$ts') built from the pattern's groups; the policy orders these values." }),
      },
      { description: "Tags considered, and the part of each that is ordered." },
    ),
    digestReflectionPolicy: s.enumOf(["Always", "IfNotPresent", "Never"] as const, { default: "Never", description: "When the chosen tag's digest is looked up: Never, IfNotPresent (once per tag), Always (at every interval)." }),
    interval: s.string({ pattern: durationPattern, description: "How often the digest is looked up again; required with digestReflectionPolicy Always." }),
    suspend: s.boolean({ description: "Suspend stops the reconciliation of this object." }),
  },
  { required: ["imageRepositoryRef", "policy"], description: "ImagePolicySpec chooses the latest image of a repository." },
);
export type ImagePolicySpec = s.Infer<typeof imagePolicySpec>;

export const imagePolicyStatus = s.object(
  {
    ...reconcileStatusFields,
    latestRef: imageRef,
    observedPreviousRef: imageRef,
  },
  { description: "ImagePolicyStatus records the chosen image." },
);
export type ImagePolicyStatus = s.Infer<typeof imagePolicyStatus>;

export const ImagePolicyKind = defineKind({
  group: ImageGroup,
  version: ImageVersion,
  kind: "ImagePolicy",
  plural: "imagepolicies",
  singular: "imagepolicy",
  description: "ImagePolicy is the Schema for the imagepolicies API.",
  spec: imagePolicySpec,
  status: imagePolicyStatus,
  printerColumns: [
    { name: "Image", type: "string", jsonPath: ".status.latestRef.name" },
    { name: "Tag", type: "string", jsonPath: ".status.latestRef.tag" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
});
export type ImagePolicy = TypedObject<ImagePolicySpec, ImagePolicyStatus>;

// ImageUpdateAutomation

const labelSelector = s.object(
  {
    matchLabels: s.map(s.string()),
    matchExpressions: s.array(s.object({ key: s.string(), operator: s.enumOf(["In", "NotIn", "Exists", "DoesNotExist"] as const), values: s.array(s.string()) }, { required: ["key", "operator"] })),
  },
  { description: "A Kubernetes label selector.", mapType: "atomic" },
);
export type LabelSelector = s.Infer<typeof labelSelector>;

export const imageUpdateAutomationSpec = s.object(
  {
    sourceRef: s.object(
      {
        apiVersion: s.string(),
        kind: s.enumOf(["GitRepository"] as const, { default: "GitRepository" }),
        name: s.string(),
        namespace: s.string(),
      },
      { required: ["kind", "name"], description: "The GitRepository whose URL and credentials are used to clone and push." },
    ),
    git: s.object(
      {
        checkout: s.object({ ref: gitRepositoryRef }, { required: ["ref"], description: "The ref to check out; default the GitRepository's .spec.ref." }),
        commit: s.object(
          {
            author: s.object({ name: s.string(), email: s.string() }, { required: ["email"], description: "Author (and committer) of the commits." }),
            signingKey: s.object({ secretRef: localObjectReference }, { description: "OpenPGP key (armored, in the Secret's 'git.asc') the commits are signed with." }),
            messageTemplate: s.string({ description: "Go template of the commit message; data: .AutomationObject, .Changed, .Values." }),
            messageTemplateValues: s.map(s.string(), { description: "Values the template reads as .Values." }),
          },
          { required: ["author"] },
        ),
        push: s.object(
          {
            branch: s.string({ description: "Branch pushed to; default the checked-out branch." }),
            refspec: s.string({ description: "Refspec pushed (e.g. 'refs/heads/main:refs/heads/auto'), besides branch when both are set." }),
            options: s.map(s.string(), { description: "Push options (git push -o)." }),
          },
        ),
      },
      { required: ["commit"] },
    ),
    interval: s.string({ pattern: durationPattern, description: "How often the automation runs." }),
    policySelector: labelSelector,
    update: s.object(
      {
        path: s.string({ description: "Directory of the repository whose YAML files are updated; default the root." }),
        strategy: s.enumOf(["Setters"] as const, { default: "Setters", description: "Setters: scalars marked with '# {\"$imagepolicy\": \"<namespace>:<name>[:tag|:name|:digest]\"}' are set." }),
      },
      { required: ["strategy"], default: { strategy: "Setters" } },
    ),
    suspend: s.boolean({ description: "Suspend stops the automation." }),
  },
  { required: ["sourceRef", "interval"], description: "ImageUpdateAutomationSpec updates image references in git." },
);
export type ImageUpdateAutomationSpec = s.Infer<typeof imageUpdateAutomationSpec>;

export const imageUpdateAutomationStatus = s.object(
  {
    ...reconcileStatusFields,
    lastAutomationRunTime: s.string({ format: "date-time", description: "When the automation last ran." }),
    lastPushCommit: s.string({ description: "SHA of the last commit pushed." }),
    lastPushTime: s.string({ format: "date-time", description: "When the last commit was pushed." }),
    observedPolicies: s.map(imageRef, { description: "The latest image of each selected policy at the last run." }),
    observedSourceRevision: s.string({ description: "The revision of the checked-out source at the last run ('<branch>@sha1:<sha>')." }),
  },
  { description: "ImageUpdateAutomationStatus records the last run." },
);
export type ImageUpdateAutomationStatus = s.Infer<typeof imageUpdateAutomationStatus>;

export const ImageUpdateAutomationKind = defineKind({
  group: ImageGroup,
  version: ImageVersion,
  kind: "ImageUpdateAutomation",
  plural: "imageupdateautomations",
  singular: "imageupdateautomation",
  description: "ImageUpdateAutomation is the Schema for the imageupdateautomations API.",
  spec: imageUpdateAutomationSpec,
  status: imageUpdateAutomationStatus,
  printerColumns: [
    { name: "Last run", type: "string", jsonPath: ".status.lastAutomationRunTime" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
});
export type ImageUpdateAutomation = TypedObject<ImageUpdateAutomationSpec, ImageUpdateAutomationStatus>;

// Reasons (Flux's image API); AuthenticationFailed, ReadOperationFailed and GitOperationFailed are
// the source API's, AccessDenied and DependencyNotReady the kustomize API's.
export const ImageURLInvalidReason = "ImageURLInvalid";
export const InvalidPolicyReason = "InvalidPolicy";
export const PolicyChoiceFailedReason = "PolicyChoiceFailed";
export const InvalidSourceConfigReason = "InvalidSourceConfig";
export const InvalidPolicySelectorReason = "InvalidPolicySelector";
export const UpdateFailedReason = "UpdateFailed";
export const SourceManagerFailedReason = "SourceManagerFailed";
