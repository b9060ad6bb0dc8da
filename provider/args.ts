// The Bootstrap component's public inputs. Every field says what it is, its default and an example.
import type * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";

/**
 * The cluster to install into: its kubeconfig, and optionally the `@pulumi/kubernetes` Provider the program
 * already has for it. The Namespace and the credentials Secret are `@pulumi/kubernetes` resources created
 * through that Provider (or one the component makes from `kubeconfig`); the install, its safe uninstall and
 * the readiness wait read the cluster with `kubeconfig` directly.
 */
export interface ClusterArgs {
  /**
   * A kubeconfig: a file path (`~/` is the home directory), or the file's contents (YAML/JSON; pass contents
   * as a secret). May be the output of another resource, such as the cluster's. Required.
   * Example: `"~/.kube/config"`, `pulumi.secret(fs.readFileSync(path, "utf8"))` or `cluster.kubeconfig`.
   */
  kubeconfig: pulumi.Input<string>;
  /** Context of the kubeconfig to use. Default: its current-context. Example: `"kind-fleet"`. */
  context?: pulumi.Input<string>;
  /**
   * The program's own `kubernetes.Provider` for this cluster, so the component's Kubernetes resources go through
   * it (and show under it in `pulumi stack`). Default: a Provider made from `kubeconfig` and `context`.
   * Example: `new k8s.Provider("prod", { kubeconfig: cluster.kubeconfig })`.
   */
  provider?: k8s.Provider;
}

/** Who commits the flux-system files. */
export interface AuthorArgs {
  /** Default `"Mooring"`. */
  name?: pulumi.Input<string>;
  /** Default `"mooring@localhost"`. */
  email?: pulumi.Input<string>;
}

/** Credentials for a plain git server: https basic auth or a token, or an SSH private key. */
export interface GitCredentialsArgs {
  /** https user name. Default `"git"` when only a password/token is given. */
  username?: pulumi.Input<string>;
  /** https password. A secret. Example: `pulumi.secret(process.env.GIT_PASSWORD!)`. */
  password?: pulumi.Input<string>;
  /** https token, used as the password (user `git`). A secret. */
  token?: pulumi.Input<string>;
  /** OpenSSH private key used to push over ssh. A secret. Example: `fs.readFileSync("id_ed25519", "utf8")`. */
  privateKey?: pulumi.Input<string>;
  /** known_hosts content pinning the SSH server. Default: scanned with ssh-keyscan (trust on first use). */
  knownHosts?: pulumi.Input<string>;
}

/** Bootstrap against any git server (smart HTTP or SSH). */
export interface GitArgs {
  /**
   * Repository URL: `https://host/org/fleet.git`, `ssh://git@host/org/fleet.git` (or scp-like
   * `git@host:org/fleet.git`), or `http://` for a local server. Required.
   */
  url: pulumi.Input<string>;
  /** Branch to commit to and to sync. Default `"main"`. */
  branch?: pulumi.Input<string>;
  /** Directory of this cluster in the repository. Default the root. Example: `"clusters/prod"`. */
  path?: pulumi.Input<string>;
  /** Commit author. Default `Mooring <mooring@localhost>`. */
  author?: AuthorArgs;
  /** Credentials to push (and, for https, for the cluster to read with). Default none (anonymous). */
  credentials?: GitCredentialsArgs;
  /**
   * For ssh URLs: make a new read-only ed25519 deploy key for the cluster (output `publicKey`; a plain
   * git server has no API, so register it yourself). False puts `credentials.privateKey` in the cluster
   * Secret instead, as `flux bootstrap git --private-key-file` does. Default true. Ignored for https.
   */
  generateDeployKey?: pulumi.Input<boolean>;
}

/** Bootstrap against GitHub (or GitHub Enterprise through `baseUrl`). */
export interface GitHubArgs {
  /** User or organization. Required. Example: `"acme"`. */
  owner: pulumi.Input<string>;
  /** Repository name. Required. Example: `"fleet"`. */
  repository: pulumi.Input<string>;
  /** Token with `repo` scope (and `admin:org` to create in an organization). A secret. Required. */
  token: pulumi.Input<string>;
  /** Visibility of a repository Mooring creates; an existing one is never changed. Default `"private"`. */
  visibility?: pulumi.Input<"private" | "public">;
  /** Create the repository when it does not exist. Default true. */
  createRepository?: pulumi.Input<boolean>;
  /** Whether owner is the token's user (true) or an organization (false). Default: inferred. */
  personal?: pulumi.Input<boolean>;
  /** Branch. Default `"main"`. */
  branch?: pulumi.Input<string>;
  /** Directory of this cluster in the repository. Default the root. Example: `"clusters/prod"`. */
  path?: pulumi.Input<string>;
  /** REST API base. Default `"https://api.github.com"`; Enterprise: `"https://ghe.example.com/api/v3"`. */
  baseUrl?: pulumi.Input<string>;
  /** Commit author. Default `Mooring <mooring@localhost>`. */
  author?: AuthorArgs;
  /**
   * How the cluster reads: `"ssh"` with a read-only deploy key registered through the API (Flux's
   * default), or `"https"` with the token in the cluster Secret (`flux bootstrap github --token-auth`).
   * Default `"ssh"`.
   */
  readWith?: pulumi.Input<"ssh" | "https">;
  /** known_hosts of the GitHub SSH endpoint. Default: scanned with ssh-keyscan. */
  knownHosts?: pulumi.Input<string>;
  /** Give the deploy key push access. Default false. */
  readWriteKey?: pulumi.Input<boolean>;
}

/** Where the controllers image comes from, and when the kubelet pulls it. */
export interface ImageArgs {
  /**
   * The whole repository, instead of `registry` and `name`. Example: `"127.0.0.1:5000/mooring/controllers"`.
   * Default `"ghcr.io/mooring/controllers"`.
   */
  repository?: pulumi.Input<string>;
  /** Registry host and path prefix. Default `"ghcr.io/mooring"`. */
  registry?: pulumi.Input<string>;
  /** Repository name under the registry. Default `"controllers"`. */
  name?: pulumi.Input<string>;
  /** Default `v<version>` (the image of the installed Mooring version). Example: `"v0.1.0"`. */
  tag?: pulumi.Input<string>;
  /** Pin by digest, e.g. `"sha256:…"`; wins over tag. */
  digest?: pulumi.Input<string>;
  /**
   * When the kubelet pulls the image: `"IfNotPresent"`, `"Always"` or `"Never"` (an image loaded into the
   * nodes beforehand). Default `"IfNotPresent"`.
   */
  pullPolicy?: pulumi.Input<"Always" | "IfNotPresent" | "Never">;
}

export interface BootstrapArgs {
  /** The cluster. Required. Example: `{ kubeconfig: "/path/to/kubeconfig" }`. */
  cluster: ClusterArgs;
  /** A plain git repository. Exactly one of `git` and `github` is required. */
  git?: GitArgs;
  /** A GitHub repository (created when missing). Exactly one of `git` and `github` is required. */
  github?: GitHubArgs;
  /** Mooring version to install; a change is one new commit. Default this package's version. Example: `"0.1.0"`. */
  version?: pulumi.Input<string>;
  /** Controllers to install (`source`, `kustomize`, or Flux names like `source-controller`). Default all. */
  components?: pulumi.Input<pulumi.Input<string>[]>;
  /** Extra controllers on top of `components` (Flux's `--components-extra`). Default none. */
  componentsExtra?: pulumi.Input<pulumi.Input<string>[]>;
  /** Install namespace. Default `"flux-system"`. */
  namespace?: pulumi.Input<string>;
  /** How often the cluster fetches the repository (GitRepository interval). Default `"1m0s"`. Example `"30s"`. */
  interval?: pulumi.Input<string>;
  /** Render Flux's NetworkPolicies in the install. Default true. */
  networkPolicy?: pulumi.Input<boolean>;
  /**
   * Controllers image: a reference string (`"registry/name:tag"`, `"registry/name@sha256:…"`) or its parts
   * with the pull policy. Default `ghcr.io/mooring/controllers:v<version>`, pulled if not present.
   * Example: `{ repository: "127.0.0.1:5000/mooring/controllers", tag: "dev", pullPolicy: "Always" }`.
   */
  image?: pulumi.Input<string | ImageArgs>;
  /**
   * Replicas per controller (`source`, `kustomize`, or Flux names like `kustomize-controller`). Default 1 each.
   * Extra kustomize-controller replicas elect a leader and take over within the lease duration (35 s) when
   * it goes; source-controller runs one replica. Example: `{ kustomize: 2 }`.
   */
  replicas?: pulumi.Input<Record<string, pulumi.Input<number>>>;
  /** Wait until the sync Kustomization is Ready at the pushed commit. Default true. */
  waitForReady?: pulumi.Input<boolean>;
  /** Upper bound for waits (readiness, CRDs, uninstall), as seconds or a duration like `"5m"`. Default `"5m"`. */
  timeout?: pulumi.Input<number | string>;
  /** On destroy, remove the flux-system files Mooring wrote from the repository. Default true. */
  deleteGitManifests?: pulumi.Input<boolean>;
}
