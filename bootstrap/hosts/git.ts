// The plain git host: any URL, no API. The repository must exist; the user supplies credentials or
// registers the public key we print.
import { BootstrapError } from "../errors";
import type { GitCredentials } from "../git/credentials";
import { scrubUrl } from "../git/credentials";
import { publicKeyIdentity } from "../ssh/keys";
import type { DeployKeyRequest, DeployKeyResult, GitHost, HostRepository, RepositoryRequest } from "./types";

export interface PlainGitHostOptions {
  /** Repository URL (https, ssh or file). */
  url: string;
  /** Credentials for pushing, when not an ssh key. */
  credentials?: GitCredentials;
}

export class PlainGitHost implements GitHost {
  readonly kind = "git" as const;
  constructor(private readonly options: PlainGitHostOptions) {}

  async ensureRepository(request: RepositoryRequest): Promise<HostRepository> {
    const url = this.options.url;
    const https = /^https?:\/\//i.test(url) ? scrubUrl(url) : "";
    return {
      owner: request.owner,
      name: request.name,
      httpsUrl: https,
      sshUrl: toSshUrl(url) ?? "",
      defaultBranch: undefined,
      private: request.private ?? true,
      created: false,
    };
  }

  /** A plain git server has no API: the key is reported for the user to register. */
  async ensureDeployKey(_repository: Pick<HostRepository, "owner" | "name">, request: DeployKeyRequest): Promise<DeployKeyResult> {
    if (!/^(ssh-|ecdsa-|sk-)\S+ \S+/.test(request.publicKey.trim())) {
      throw new BootstrapError("InvalidInput", "git: deploy key must be an authorized_keys line (`ssh-ed25519 AAAA… comment`)");
    }
    return { key: { id: "", title: request.title, publicKey: publicKeyIdentity(request.publicKey), readOnly: !request.write }, action: "adopted", removed: [] };
  }

  async removeDeployKey(): Promise<string[]> {
    return [];
  }

  pushCredentials(): GitCredentials | undefined {
    return this.options.credentials;
  }
}

/** `git@host:org/repo.git` → `ssh://git@host/org/repo.git`; ssh:// URLs unchanged; others undefined. */
export function toSshUrl(url: string): string | undefined {
  if (/^ssh:\/\//i.test(url)) return url;
  const scp = /^([^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(url);
  if (scp) return `ssh://${scp[1] ?? ""}${scp[2]}/${scp[3]?.replace(/^\/+/, "")}`;
  return undefined;
}
