// bootstrap: pure day-0 logic (no Pulumi), shared by the CLI and the Pulumi component.
export { BootstrapError, isBootstrapError, type BootstrapReason } from "./errors";
export { toYamlDocument, toYamlStream, type KubeObject, type ManifestInput, type ObjectMeta } from "./manifests/objects";
export {
  allControllers,
  defaultControllers,
  optionalControllers,
  controllerDeploymentName,
  type ControllerName,
  type ImageRef,
  type InstallInputs,
  type InstallOptions,
  type ResourceSettings,
} from "./manifests/options";
export { controllerArgs, defaultNamespace, imageReference, ports, renderInstall, renderInstallYaml } from "./manifests/install";
export {
  componentsFile,
  decideKustomization,
  defaultKustomization,
  fluxSystemDir,
  fluxSystemFiles,
  kustomizationFile,
  kustomizationPath,
  normalizeRepoPath,
  renderSync,
  renderSyncYaml,
  syncFile,
  syncName,
  type FluxSystemFilesInput,
  type KustomizationDecision,
  type SyncOptions,
} from "./manifests/sync";
export { fingerprintOfPublicKey, generateDeployKey, publicKeyIdentity, type DeployKey } from "./ssh/keys";
export { knownHostsName, parseKnownHosts, resolveKnownHosts, type KnownHostsOptions } from "./ssh/knownhosts";
export { scrub, scrubUrl, splitUrlCredentials, type GitCredentials } from "./git/credentials";
export {
  checkRepoPath,
  commitToBranch,
  deleteFiles,
  readRemoteHead,
  type ChangeFunction,
  type CommitAuthor,
  type CommitOptions,
  type CommitResult,
  type FileChanges,
  type GitTarget,
  type RetryPolicy,
  type Worktree,
} from "./git/repository";
export type { DeployKeyRequest, DeployKeyResult, GitHost, HostDeployKey, HostRepository, RepositoryRequest } from "./hosts/types";
export { GitHubHost, type GitHubHostOptions } from "./hosts/github";
export { PlainGitHost, toSshUrl, type PlainGitHostOptions } from "./hosts/git";
