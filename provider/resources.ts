// The Bootstrap's dynamic resources. Pulumi serializes each provider into the state as the text of its
// functions and the values they capture. These capture only the package name and an implementation name and
// load provider/impl/<name> by package name from the directory Pulumi runs in, so the state holds no path of
// this machine: another checkout, or a CI runner with its own node_modules, refreshes, updates and destroys it.
import * as pulumi from "@pulumi/pulumi";
import { packageName } from "./package";
import type { GitCredentials, InstallOptions, SyncOptions } from "../bootstrap";
import type { Condition } from "./impl/status";
import type { RepositoryInputs } from "./impl/repository";
import type { DeployKeyInputs } from "./impl/deploykey";
import type { ClusterInstallInputs } from "./impl/install";
import type { SyncStatusInputs } from "./impl/status";

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

interface Implementation {
  create(inputs: unknown): Promise<{ id: string; outs: Record<string, unknown> }>;
  diff(olds: unknown, news: unknown): pulumi.dynamic.DiffResult | Promise<pulumi.dynamic.DiffResult>;
  update(olds: unknown, news: unknown): Promise<Record<string, unknown>>;
  read(id: string, props: unknown): Promise<{ id: string; props: Record<string, unknown> }>;
  remove(props: unknown): Promise<void>;
}

/** The implementations under provider/impl/, as the package exports them (`<package>/provider/impl/<name>`). */
export type ImplementationName = "repository" | "deploykey" | "gitfiles" | "install" | "status";

/**
 * A provider whose methods delegate to `<pkg>/provider/impl/<name>`, resolved from the directory the dynamic
 * provider runs in (the Pulumi project): its node_modules in a user's project, the package itself (by its own
 * name) in this repository. Runs inside Pulumi's dynamic-provider host, so it uses nothing but `require` and
 * the two captured strings.
 */
export function delegatingProvider(pkg: string, name: ImplementationName): pulumi.dynamic.ResourceProvider {
  const load = (): Implementation => {
    const from = require("node:path").join(process.cwd(), "__mooring_provider__.js") as string;
    return require("node:module").createRequire(from)(`${pkg}/provider/impl/${name}`) as Implementation;
  };
  return {
    async create(inputs) {
      return load().create(inputs);
    },
    async diff(_id, olds, news) {
      return load().diff(olds, news);
    },
    async update(_id, olds, news) {
      return { outs: await load().update(olds, news) };
    },
    async read(id, props) {
      return load().read(id, props);
    },
    async delete(_id, props) {
      await load().remove(props);
    },
  };
}

const implementation = (name: ImplementationName): pulumi.dynamic.ResourceProvider => delegatingProvider(packageName, name);

export type RepositoryArgs = RepositoryInputs;

/** A GitHub repository, found or created. Destroy leaves it (history outlives clusters). */
export class GitHubRepository extends pulumi.dynamic.Resource {
  declare readonly httpsUrl: pulumi.Output<string>;
  declare readonly sshUrl: pulumi.Output<string>;
  declare readonly created: pulumi.Output<boolean>;
  declare readonly owner: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;

  constructor(name: string, args: Inputs<RepositoryArgs>, opts?: pulumi.CustomResourceOptions) {
    super(implementation("repository"), name, { ...args, httpsUrl: undefined, sshUrl: undefined, created: undefined, defaultBranch: undefined, exists: undefined }, { ...opts, additionalSecretOutputs: ["token"] });
  }
}

export type DeployKeyArgs = DeployKeyInputs;

/** The cluster's ed25519 deploy key, registered with the host when it has an API. */
export class DeployKey extends pulumi.dynamic.Resource {
  declare readonly publicKey: pulumi.Output<string>;
  declare readonly privateKey: pulumi.Output<string>;
  declare readonly fingerprint: pulumi.Output<string>;
  declare readonly keyId: pulumi.Output<string>;
  declare readonly resolvedKnownHosts: pulumi.Output<string>;

  constructor(name: string, args: Inputs<DeployKeyArgs>, opts?: pulumi.CustomResourceOptions) {
    super(
      implementation("deploykey"),
      name,
      { ...args, publicKey: undefined, privateKey: undefined, fingerprint: undefined, keyId: undefined, resolvedKnownHosts: undefined, registered: undefined },
      { ...opts, additionalSecretOutputs: ["privateKey", "host"] },
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
export class GitFiles extends pulumi.dynamic.Resource {
  declare readonly commit: pulumi.Output<string>;
  declare readonly digests: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: Inputs<GitFilesArgs>, opts?: pulumi.CustomResourceOptions) {
    super(implementation("gitfiles"), name, { ...args, commit: undefined, digests: undefined }, { ...opts, additionalSecretOutputs: ["credentials"] });
  }
}

export type ClusterInstallArgs = ClusterInstallInputs;

/** The first apply of the install, credentials Secret and sync objects; uninstalls on delete. */
export class ClusterInstall extends pulumi.dynamic.Resource {
  declare readonly installed: pulumi.Output<boolean>;
  declare readonly adopted: pulumi.Output<boolean>;
  declare readonly applied: pulumi.Output<number>;

  constructor(name: string, args: Inputs<ClusterInstallArgs>, opts?: pulumi.CustomResourceOptions) {
    super(
      implementation("install"),
      name,
      { ...args, installed: undefined, adopted: undefined, applied: undefined, secretDigest: undefined },
      { ...opts, additionalSecretOutputs: ["secretData", "cluster"] },
    );
  }
}

export type SyncStatusArgs = SyncStatusInputs;

/** The sync Kustomization's status (waits for Ready at the pushed commit when asked). */
export class SyncStatus extends pulumi.dynamic.Resource {
  declare readonly ready: pulumi.Output<boolean>;
  declare readonly revision: pulumi.Output<string>;
  declare readonly inventoryCount: pulumi.Output<number>;
  declare readonly conditions: pulumi.Output<Condition[]>;

  constructor(name: string, args: Inputs<SyncStatusArgs>, opts?: pulumi.CustomResourceOptions) {
    super(
      implementation("status"),
      name,
      { ...args, ready: undefined, revision: undefined, inventoryCount: undefined, conditions: undefined },
      { ...opts, additionalSecretOutputs: ["git", "cluster"] },
    );
  }
}
