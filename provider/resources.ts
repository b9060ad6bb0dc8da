// The Bootstrap's resources: typed custom resources (`mooring:index:GitFiles`, …) served by the `mooring`
// resource provider plugin (provider/plugin.ts, started as bin/pulumi-resource-mooring). The state records the
// type and the provider's name and version, never a path: another checkout, or a CI runner with its own
// node_modules and the plugin found the same way, refreshes, updates and destroys it.
import * as pulumi from "@pulumi/pulumi";
import { packageVersion } from "./package";
import type { GitCredentials, InstallOptions, SyncOptions } from "../bootstrap";
import type { Condition } from "./impl/status";
import type { RepositoryInputs } from "./impl/repository";
import type { DeployKeyInputs } from "./impl/deploykey";
import type { ClusterInstallInputs } from "./impl/install";
import type { SyncStatusInputs } from "./impl/status";
import { typeToken } from "./plugin-types";

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** Options every resource of the plugin gets: the plugin version this package serves. */
function pluginOptions(opts: pulumi.CustomResourceOptions | undefined, secretOutputs: string[]): pulumi.CustomResourceOptions {
  return { version: packageVersion, ...opts, additionalSecretOutputs: [...secretOutputs, ...(opts?.additionalSecretOutputs ?? [])] };
}

export type RepositoryArgs = RepositoryInputs;

/** A GitHub repository, found or created. Destroy leaves it (history outlives clusters). */
export class GitHubRepository extends pulumi.CustomResource {
  declare readonly httpsUrl: pulumi.Output<string>;
  declare readonly sshUrl: pulumi.Output<string>;
  declare readonly created: pulumi.Output<boolean>;
  declare readonly owner: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;

  constructor(name: string, args: Inputs<RepositoryArgs>, opts?: pulumi.CustomResourceOptions) {
    super(typeToken("GitHubRepository"), name, { ...args, httpsUrl: undefined, sshUrl: undefined, created: undefined, defaultBranch: undefined, exists: undefined }, pluginOptions(opts, ["token"]));
  }
}

export type DeployKeyArgs = DeployKeyInputs;

/** The cluster's ed25519 deploy key, registered with the host when it has an API. */
export class DeployKey extends pulumi.CustomResource {
  declare readonly publicKey: pulumi.Output<string>;
  declare readonly privateKey: pulumi.Output<string>;
  declare readonly fingerprint: pulumi.Output<string>;
  declare readonly keyId: pulumi.Output<string>;
  declare readonly resolvedKnownHosts: pulumi.Output<string>;

  constructor(name: string, args: Inputs<DeployKeyArgs>, opts?: pulumi.CustomResourceOptions) {
    super(
      typeToken("DeployKey"),
      name,
      { ...args, publicKey: undefined, privateKey: undefined, fingerprint: undefined, keyId: undefined, resolvedKnownHosts: undefined, registered: undefined },
      pluginOptions(opts, ["privateKey", "host"]),
    );
  }
}

export interface GitFilesArgs {
  url: string;
  branch: string;
  path: string;
  credentials: GitCredentials;
  author: { name: string; email: string };
  install: InstallOptions;
  sync: SyncOptions;
  deleteOnDestroy: boolean;
}

/** The commit of `<path>/flux-system/{gotk-components,gotk-sync,kustomization}.yaml`. */
export class GitFiles extends pulumi.CustomResource {
  declare readonly commit: pulumi.Output<string>;
  declare readonly digests: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: Inputs<GitFilesArgs>, opts?: pulumi.CustomResourceOptions) {
    super(typeToken("GitFiles"), name, { ...args, commit: undefined, digests: undefined }, pluginOptions(opts, ["credentials"]));
  }
}

export type ClusterInstallArgs = ClusterInstallInputs;

/** The first apply of the install and the sync objects; uninstalls on delete. */
export class ClusterInstall extends pulumi.CustomResource {
  declare readonly installed: pulumi.Output<boolean>;
  declare readonly adopted: pulumi.Output<boolean>;
  declare readonly applied: pulumi.Output<number>;

  constructor(name: string, args: Inputs<ClusterInstallArgs>, opts?: pulumi.CustomResourceOptions) {
    super(
      typeToken("ClusterInstall"),
      name,
      { ...args, installed: undefined, adopted: undefined, applied: undefined },
      pluginOptions(opts, ["cluster"]),
    );
  }
}

export type SyncStatusArgs = SyncStatusInputs;

/** The sync Kustomization's status (waits for Ready at the pushed commit when asked). */
export class SyncStatus extends pulumi.CustomResource {
  declare readonly ready: pulumi.Output<boolean>;
  declare readonly revision: pulumi.Output<string>;
  declare readonly inventoryCount: pulumi.Output<number>;
  declare readonly conditions: pulumi.Output<Condition[]>;

  constructor(name: string, args: Inputs<SyncStatusArgs>, opts?: pulumi.CustomResourceOptions) {
    super(
      typeToken("SyncStatus"),
      name,
      { ...args, ready: undefined, revision: undefined, inventoryCount: undefined, conditions: undefined },
      pluginOptions(opts, ["git", "cluster"]),
    );
  }
}
