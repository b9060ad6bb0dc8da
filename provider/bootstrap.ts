// The Bootstrap component: day-0 of a Mooring cluster. It finds or creates the repository, makes the
// cluster's deploy key, commits the flux-system files, applies the install once and reports the sync
// Kustomization's status. After that the controllers own what is in git (see DESIGN.md, Ownership).
import * as os from "node:os";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { GitCredentials, SyncOptions } from "../bootstrap";
import type { BootstrapArgs, GitCredentialsArgs } from "./args";
import type { Condition } from "./impl/status";
import { ClusterInstall, DeployKey, GitFiles, GitHubRepository, SyncStatus } from "./resources";
import { packageVersion } from "./package";
import { resolveSettings, sshEndpoint, urlTransport, type Settings } from "./settings";

function pushCredentials(c: pulumi.Unwrap<GitCredentialsArgs> | undefined): GitCredentials {
  if (c?.privateKey) return { kind: "ssh", privateKey: c.privateKey, ...(c.knownHosts ? { knownHosts: c.knownHosts } : {}) };
  const password = c?.password ?? c?.token;
  if (password) return { kind: "basic", username: c?.username ?? "git", password };
  return { kind: "none" };
}

/** `~/…` of a kubeconfig path is the home directory, as kubectl reads it; contents and other paths are kept. */
export function expandHome(kubeconfig: string): string {
  return kubeconfig === "~" || kubeconfig.startsWith("~/") ? os.homedir() + kubeconfig.slice(1) : kubeconfig;
}

/** Credentials the cluster can read with were given (each may still be an Output). */
function hasCredentials(c: GitCredentialsArgs | undefined): boolean {
  return c !== undefined && (c.password !== undefined || c.token !== undefined || c.privateKey !== undefined);
}

function withoutUserinfo(url: string): string {
  return /^https?:\/\//i.test(url) ? url.replace(/^(https?:\/\/)[^/@]*@/i, "$1") : url;
}

/** How the repository is reached: by Pulumi to push, and by the cluster to read. */
interface Access {
  pushUrl: pulumi.Output<string>;
  pushCredentials: pulumi.Output<GitCredentials>;
  syncUrl: pulumi.Output<string>;
  secretData: pulumi.Output<Record<string, string> | null>;
  /** Whether the cluster reads with a credentials Secret: decided from plain inputs, as it decides a resource. */
  withSecret: boolean;
  deployKey?: DeployKey;
}

export class Bootstrap extends pulumi.ComponentResource {
  /** The URL the cluster syncs from (ssh:// for deploy keys, https otherwise). */
  readonly repositoryUrl: pulumi.Output<string>;
  /** The branch head after Pulumi's commit of the flux-system files. */
  readonly commit: pulumi.Output<string>;
  /** The deploy key's authorized_keys line ("" when the cluster reads over https). */
  readonly publicKey: pulumi.Output<string>;
  /** `SHA256:…` of the deploy key ("" without one). */
  readonly deployKeyFingerprint: pulumi.Output<string>;
  /** The sync Kustomization is Ready. */
  readonly ready: pulumi.Output<boolean>;
  /** Its `lastAppliedRevision`, e.g. `main@sha1:…`. */
  readonly revision: pulumi.Output<string>;
  /** Objects in its inventory. */
  readonly inventoryCount: pulumi.Output<number>;
  /** Its conditions (type, status, reason, message). */
  readonly conditions: pulumi.Output<Condition[]>;

  constructor(name: string, args: BootstrapArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mooring:index:Bootstrap", name, {}, opts);
    if ((args.git === undefined) === (args.github === undefined)) {
      throw new Error("Bootstrap: give exactly one of `git` (any git server) and `github`");
    }
    const source = args.git ?? args.github!;
    const settings: pulumi.Output<Settings> = pulumi
      .output({
        version: args.version,
        components: args.components,
        componentsExtra: args.componentsExtra,
        namespace: args.namespace,
        interval: args.interval,
        networkPolicy: args.networkPolicy,
        image: args.image,
        replicas: args.replicas,
        waitForReady: args.waitForReady,
        timeout: args.timeout,
        deleteGitManifests: args.deleteGitManifests,
        branch: source.branch,
        path: source.path,
        author: source.author,
      })
      .apply((plain) => resolveSettings({ mode: args.git ? "git" : "github", ...plain }, packageVersion));
    const child = { parent: this };
    const cluster = pulumi.output({ kubeconfig: args.cluster.kubeconfig, context: args.cluster.context }).apply((c) => {
      if (typeof c.kubeconfig !== "string" || c.kubeconfig === "") throw new Error("Bootstrap: cluster.kubeconfig is required (a path or the contents), also with cluster.provider");
      return { kubeconfig: expandHome(c.kubeconfig), ...(c.context ? { context: c.context } : {}) };
    });
    // The objects Pulumi owns in the cluster go through @pulumi/kubernetes: the program's Provider, or ours.
    const provider =
      args.cluster.provider ??
      new k8s.Provider(`${name}-cluster`, { kubeconfig: cluster.kubeconfig, context: pulumi.output(args.cluster.context).apply((c) => c ?? undefined) } as k8s.ProviderArgs, child);

    const access = args.git ? this.gitAccess(name, args, settings, child) : this.githubAccess(name, args, settings, child);

    const secretName = access.withSecret ? "flux-system" : null;
    const sync: pulumi.Output<SyncOptions> = pulumi.all([settings, access.syncUrl]).apply(([s, url]) => ({
      url,
      branch: s.branch,
      path: s.path,
      namespace: s.namespace,
      interval: s.interval,
      secretName,
    }));

    // The namespace outlives the stack when anything else lives in it (the uninstall removes it only when
    // empty), so Pulumi never deletes it; the credentials Secret is Pulumi's alone.
    const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: settings.namespace } }, { ...child, provider, retainOnDelete: true });
    const secret = secretName
      ? new k8s.core.v1.Secret(
          `${name}-credentials`,
          {
            metadata: { name: secretName, namespace: namespace.metadata.name, labels: { "app.kubernetes.io/managed-by": "mooring-bootstrap" } },
            type: "Opaque",
            stringData: pulumi.secret(
              access.secretData.apply((data) => {
                if (data === null) throw new Error("Bootstrap: git.credentials gives the cluster nothing to read with: set password, token or privateKey, or leave credentials out for anonymous https");
                return data;
              }),
            ),
          },
          { ...child, provider },
        )
      : undefined;

    const gitFiles = new GitFiles(
      `${name}-flux-system-files`,
      {
        url: access.pushUrl,
        branch: settings.branch,
        path: settings.path,
        credentials: access.pushCredentials,
        author: settings.author,
        install: settings.install,
        sync,
        deleteOnDestroy: settings.deleteGitManifests,
      },
      { ...child, dependsOn: access.deployKey ? [access.deployKey] : [] },
    );

    // Depends on the files: destroy uninstalls (and disarms pruning) before the files leave git.
    const install = new ClusterInstall(
      `${name}-install`,
      { cluster, install: settings.install, sync, timeoutSeconds: settings.timeoutSeconds },
      { ...child, dependsOn: [gitFiles, namespace, ...(secret ? [secret] : [])] },
    );

    const status = new SyncStatus(
      `${name}-status`,
      {
        cluster,
        namespace: settings.namespace,
        commit: gitFiles.commit,
        git: pulumi.all([access.pushUrl, settings.branch, access.pushCredentials]).apply(([url, branch, credentials]) => ({ url, branch, credentials })),
        waitForReady: settings.waitForReady,
        timeoutSeconds: settings.timeoutSeconds,
      },
      { ...child, dependsOn: [install] },
    );

    this.repositoryUrl = access.syncUrl;
    this.commit = gitFiles.commit;
    this.publicKey = access.deployKey ? access.deployKey.publicKey : pulumi.output("");
    this.deployKeyFingerprint = access.deployKey ? access.deployKey.fingerprint : pulumi.output("");
    this.ready = status.ready;
    this.revision = status.revision;
    this.inventoryCount = status.inventoryCount;
    this.conditions = status.conditions;
    this.registerOutputs({
      repositoryUrl: this.repositoryUrl,
      commit: this.commit,
      publicKey: this.publicKey,
      deployKeyFingerprint: this.deployKeyFingerprint,
      ready: this.ready,
      revision: this.revision,
      inventoryCount: this.inventoryCount,
      conditions: this.conditions,
    });
  }

  private gitAccess(name: string, args: BootstrapArgs, settings: pulumi.Output<Settings>, child: pulumi.CustomResourceOptions): Access {
    const git = args.git!;
    const url = pulumi.output(git.url);
    const credentials = pulumi.secret(pulumi.output(git.credentials).apply((c) => pushCredentials(c)));
    const transport = url.apply(urlTransport);
    const useDeployKey = pulumi.all([transport, git.generateDeployKey]).apply(([t, generate]) => t === "ssh" && generate !== false);
    // Whether a key is made must be known while the program runs: decided from plain inputs only.
    const plainUrl = typeof git.url === "string" ? git.url : undefined;
    const plainGenerate = git.generateDeployKey === undefined || git.generateDeployKey === true;
    let deployKey: DeployKey | undefined;
    if ((plainUrl === undefined || urlTransport(plainUrl) === "ssh") && plainGenerate && (plainUrl !== undefined || git.generateDeployKey !== false)) {
      if (plainUrl === undefined) pulumi.log.warn("Bootstrap: git.url is not a plain string; a deploy key is made in case it is an ssh URL", this);
      const endpoint = url.apply((u) => (urlTransport(u) === "ssh" ? sshEndpoint(u) : { url: u, host: "localhost", port: 22 }));
      deployKey = new DeployKey(
        `${name}-deploy-key`,
        {
          host: url.apply((u) => ({ kind: "git" as const, url: u })),
          owner: "",
          repository: "",
          title: settings.apply((s) => `mooring-${s.namespace}`),
          write: false,
          sshHost: endpoint.host,
          sshPort: endpoint.port,
          knownHosts: pulumi.output(git.credentials).apply((c) => c?.knownHosts),
        },
        child,
      );
    }
    const secretData = pulumi.secret(
      pulumi
        .all([transport, useDeployKey, credentials, deployKey?.privateKey, deployKey?.publicKey, deployKey?.resolvedKnownHosts])
        .apply(([t, withKey, c, privateKey, publicKey, knownHosts]): Record<string, string> | null => {
          if (t === "ssh" && withKey) return { identity: privateKey!, "identity.pub": publicKey!, known_hosts: knownHosts! };
          if (t === "ssh") {
            if (c.kind !== "ssh" || !c.knownHosts) throw new Error("Bootstrap: with generateDeployKey false, git.credentials needs privateKey and knownHosts for the cluster Secret");
            return { identity: c.privateKey, known_hosts: c.knownHosts };
          }
          if (c.kind === "basic") return { username: c.username, password: c.password };
          return null;
        }),
    );
    return {
      pushUrl: url,
      pushCredentials: credentials,
      syncUrl: url.apply((u) => (urlTransport(u) === "ssh" ? sshEndpoint(u).url : withoutUserinfo(u))),
      secretData,
      withSecret: deployKey !== undefined || (plainUrl !== undefined && urlTransport(plainUrl) === "ssh") || hasCredentials(git.credentials),
      deployKey,
    };
  }

  private githubAccess(name: string, args: BootstrapArgs, settings: pulumi.Output<Settings>, child: pulumi.CustomResourceOptions): Access {
    const gh = args.github!;
    const token = pulumi.secret(gh.token);
    const repository = new GitHubRepository(
      `${name}-repository`,
      {
        token,
        baseUrl: gh.baseUrl,
        owner: gh.owner,
        name: gh.repository,
        private: pulumi.output(gh.visibility).apply((v) => v !== "public"),
        createRepository: pulumi.output(gh.createRepository).apply((c) => c !== false),
        personal: gh.personal,
        description: "Fleet repository bootstrapped by Mooring",
      },
      child,
    );
    const pushCredentials = pulumi.secret(pulumi.output(token).apply((t): GitCredentials => ({ kind: "basic", username: "x-access-token", password: t })));
    const readWith = gh.readWith ?? "ssh";
    if (readWith === "https") {
      return {
        pushUrl: repository.httpsUrl,
        pushCredentials,
        syncUrl: repository.httpsUrl,
        secretData: pulumi.secret(pulumi.output(token).apply((t) => ({ username: "git", password: t }))),
        withSecret: true,
      };
    }
    if (typeof readWith !== "string") throw new Error("Bootstrap: github.readWith must be a plain \"ssh\" or \"https\"");
    const endpoint = repository.sshUrl.apply((u) => sshEndpoint(u));
    const deployKey = new DeployKey(
      `${name}-deploy-key`,
      {
        host: pulumi.all([token, gh.baseUrl]).apply(([t, baseUrl]) => ({ kind: "github" as const, token: t, ...(baseUrl ? { baseUrl } : {}) })),
        owner: repository.owner,
        repository: repository.name,
        title: settings.apply((s) => `mooring-${s.namespace}-${s.branch}${s.path ? `-${s.path}` : ""}`),
        write: pulumi.output(gh.readWriteKey).apply((w) => w === true),
        sshHost: endpoint.host,
        sshPort: endpoint.port,
        knownHosts: gh.knownHosts,
      },
      child,
    );
    return {
      pushUrl: repository.httpsUrl,
      pushCredentials,
      syncUrl: repository.sshUrl,
      secretData: pulumi.secret(
        pulumi.all([deployKey.privateKey, deployKey.publicKey, deployKey.resolvedKnownHosts]).apply(([identity, pub, knownHosts]) => ({ identity, "identity.pub": pub, known_hosts: knownHosts })),
      ),
      withSecret: true,
      deployKey,
    };
  }
}
