// What a git host does for bootstrap: make sure the repository exists, and manage its deploy key.
import type { GitCredentials } from "../git/credentials";

export interface RepositoryRequest {
  /** User or organization owning the repository. */
  owner: string;
  /** Repository name. */
  name: string;
  /** Create the repository when it does not exist. Default true. */
  createRepository?: boolean;
  /** Visibility of a created repository. Default true (private). An existing repository is never changed. */
  private?: boolean;
  /** Whether owner is the authenticated user (true) or an organization (false). Default: inferred. */
  personal?: boolean;
  /** Description of a created repository. */
  description?: string;
  signal?: AbortSignal;
}

export interface HostRepository {
  owner: string;
  name: string;
  /** https clone URL, without credentials. */
  httpsUrl: string;
  /** ssh clone URL in `ssh://` form, as Flux's GitRepository expects. */
  sshUrl: string;
  /** Default branch; undefined while the repository is empty and the host does not say. */
  defaultBranch: string | undefined;
  private: boolean;
  /** True when this call created the repository (so the caller owns it). */
  created: boolean;
}

export interface DeployKeyRequest {
  /** Title shown by the host, e.g. `mooring-flux-system`; the identity used for rotation. */
  title: string;
  /** authorized_keys line; the comment is ignored for matching. */
  publicKey: string;
  /** Grant push access. Default false (read-only), which is all the controllers need. */
  write?: boolean;
  signal?: AbortSignal;
}

export interface HostDeployKey {
  id: string;
  title: string;
  /** `<type> <base64>` as the host stores it (no comment). */
  publicKey: string;
  readOnly: boolean;
}

export interface DeployKeyResult {
  key: HostDeployKey;
  /** created: new key; adopted: the same key already there; rotated: replaced keys with the same title. */
  action: "created" | "adopted" | "rotated";
  /** Ids of keys removed by a rotation. */
  removed: string[];
}

export interface GitHost {
  readonly kind: "github" | "git";
  /** Find the repository, creating it when asked. */
  ensureRepository(request: RepositoryRequest): Promise<HostRepository>;
  /** Register the key, adopting an identical one and replacing others with the same title. */
  ensureDeployKey(repository: Pick<HostRepository, "owner" | "name">, request: DeployKeyRequest): Promise<DeployKeyResult>;
  /** Remove keys by id or title; returns the ids removed (none when already gone). */
  removeDeployKey(repository: Pick<HostRepository, "owner" | "name">, match: { id?: string; title?: string; signal?: AbortSignal }): Promise<string[]>;
  /** Credentials for pushing over https, when the host has them. */
  pushCredentials(): GitCredentials | undefined;
}
