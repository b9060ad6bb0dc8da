// source.toolkit.fluxcd.io/v1 — GitRepository (OCIRepository, HelmRepository, HelmChart, Bucket later,
// declared the same way). Field names and semantics follow Flux's published v1 API.
import * as s from "./schema";
import { defineKind } from "./crd";
import { durationPattern, localObjectReference, reconcileStatusFields, type TypedObject } from "./meta";

export const SourceGroup = "source.toolkit.fluxcd.io";
export const SourceVersion = "v1";

export const artifact = s.object(
  {
    path: s.string({ description: "Relative path of the artifact in the controller's storage." }),
    url: s.string({ description: "HTTP address of the artifact as exposed by the controller." }),
    revision: s.string({ description: "Human-readable identifier of the source, e.g. main@sha1:<sha>." }),
    digest: s.string({ pattern: "^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$", description: "Digest of the file, in the form '<algorithm>:<checksum>'." }),
    lastUpdateTime: s.string({ format: "date-time", description: "When the artifact was last updated." }),
    size: s.integer({ format: "int64", description: "Size in bytes of the file." }),
    metadata: s.map(s.string(), { description: "Metadata of the source." }),
  },
  { required: ["path", "url", "revision", "lastUpdateTime"], description: "An artifact produced by a source." },
);
export type Artifact = s.Infer<typeof artifact>;

export const gitRepositoryRef = s.object(
  {
    branch: s.string({ description: "Git branch to check out, defaults to 'master' if no other field is defined." }),
    tag: s.string({ description: "Git tag to check out, takes precedence over branch." }),
    semver: s.string({ description: "SemVer range of tags to choose from; takes precedence over tag." }),
    name: s.string({ description: "Git reference name (refs/heads/…, refs/tags/…, refs/pull/…/head); takes precedence over branch, tag and semver." }),
    commit: s.string({ description: "Git commit SHA to check out; with branch, the commit must be on it. Takes precedence over all others." }),
  },
  { description: "The Git reference to check out." },
);
export type GitRepositoryRef = s.Infer<typeof gitRepositoryRef>;

export const gitRepositoryInclude = s.object(
  {
    repository: localObjectReference,
    fromPath: s.string({ description: "Path to copy contents from, defaults to the root of the included repository." }),
    toPath: s.string({ description: "Path to copy contents to, defaults to the name of the included GitRepository." }),
  },
  { required: ["repository"], description: "Another GitRepository's artifact to include." },
);
export type GitRepositoryInclude = s.Infer<typeof gitRepositoryInclude>;

export const gitRepositorySpec = s.object(
  {
    url: s.string({ pattern: "^(http|https|ssh)://.*$", description: "URL of the Git repository (http, https or ssh)." }),
    secretRef: s.object({ name: s.string() }, { required: ["name"], description: "Secret with authentication credentials: username/password or bearerToken, ca.crt, tls.crt/tls.key (HTTPS); identity, known_hosts and password (SSH)." }),
    provider: s.enumOf(["generic", "azure", "github"] as const, { description: "OIDC provider for authentication; 'generic' uses secretRef." }),
    interval: s.string({ pattern: durationPattern, description: "How often to check the repository for updates." }),
    timeout: s.string({ pattern: "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$", default: "60s", description: "Timeout for Git operations." }),
    ref: gitRepositoryRef,
    verify: s.object(
      { mode: s.enumOf(["head", "HEAD", "Tag", "TagAndHEAD"] as const), secretRef: localObjectReference },
      { required: ["secretRef"], description: "Verification of the signatures of the HEAD commit and/or the tag: OpenPGP keys (*.asc) and SSH keys (*.sshpub) in the Secret." },
    ),
    proxySecretRef: localObjectReference,
    ignore: s.string({ description: "Ignore overrides the set of excluded patterns in .sourceignore format." }),
    suspend: s.boolean({ description: "Suspend stops the reconciliation of this object." }),
    recurseSubmodules: s.boolean({ description: "Initialise and fetch all submodules, recursively, with the same credentials." }),
    include: s.array(gitRepositoryInclude, { description: "Other GitRepository artifacts to include in this artifact." }),
    sparseCheckout: s.array(s.string(), { description: "Directories to check out (sparse checkout)." }),
  },
  { required: ["url", "interval"], description: "GitRepositorySpec specifies the Git repository to fetch." },
);
export type GitRepositorySpec = s.Infer<typeof gitRepositorySpec>;

export const gitRepositoryStatus = s.object(
  {
    ...reconcileStatusFields,
    artifact,
    includedArtifacts: s.array(artifact, { description: "Artifacts of the included GitRepositories." }),
    observedIgnore: s.string(),
    observedRecurseSubmodules: s.boolean(),
    observedInclude: s.array(gitRepositoryInclude),
    observedSparseCheckout: s.array(s.string()),
    sourceVerificationMode: s.string(),
  },
  { description: "GitRepositoryStatus records the observed state of a GitRepository." },
);
export type GitRepositoryStatus = s.Infer<typeof gitRepositoryStatus>;

export const GitRepositoryKind = defineKind({
  group: SourceGroup,
  version: SourceVersion,
  kind: "GitRepository",
  plural: "gitrepositories",
  singular: "gitrepository",
  shortNames: ["gitrepo"],
  description: "GitRepository is the Schema for the gitrepositories API.",
  spec: gitRepositorySpec,
  status: gitRepositoryStatus,
  printerColumns: [
    { name: "URL", type: "string", jsonPath: ".spec.url" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ],
});

export type GitRepository = TypedObject<GitRepositorySpec, GitRepositoryStatus>;

// Condition types and reasons used by source objects (Flux's vocabulary).
export const ArtifactInStorageCondition = "ArtifactInStorage";
export const ArtifactOutdatedCondition = "ArtifactOutdated";
export const FetchFailedCondition = "FetchFailed";
export const IncludeUnavailableCondition = "IncludeUnavailable";
export const StorageOperationFailedCondition = "StorageOperationFailed";
export const SourceVerifiedCondition = "SourceVerified";

export const GitOperationFailedReason = "GitOperationFailed";
export const GitOperationSucceedReason = "GitOperationSucceed";
export const AuthenticationFailedReason = "AuthenticationFailed";
export const URLInvalidReason = "URLInvalid";
export const StorageOperationFailedReason = "StorageOperationFailed";
export const ArtifactUpToDateReason = "ArtifactUpToDate";
export const NewRevisionReason = "NewRevision";
export const ArtifactFailedReason = "ArtifactFailed";
export const IncludeUnavailableReason = "IncludeUnavailable";
export const UnsupportedFeatureReason = "UnsupportedFeature";
