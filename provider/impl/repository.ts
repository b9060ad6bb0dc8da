// The GitHub repository: found or created on create, read back on refresh/import. Never deleted: a
// repository holds history that outlives any cluster (destroy leaves it; `created` says who made it).
import { Octokit } from "@octokit/rest";
import { GitHubHost } from "../../bootstrap";

export interface RepositoryInputs {
  token: string;
  baseUrl?: string;
  owner: string;
  name: string;
  private: boolean;
  createRepository: boolean;
  personal?: boolean;
  description?: string;
}

export interface RepositoryOutputs extends RepositoryInputs {
  httpsUrl: string;
  sshUrl: string;
  defaultBranch: string;
  created: boolean;
  exists: boolean;
}

export async function create(inputs: RepositoryInputs): Promise<{ id: string; outs: RepositoryOutputs }> {
  const host = new GitHubHost({ token: inputs.token, baseUrl: inputs.baseUrl });
  const repo = await host.ensureRepository({
    owner: inputs.owner,
    name: inputs.name,
    private: inputs.private,
    createRepository: inputs.createRepository,
    personal: inputs.personal,
    description: inputs.description,
  });
  return {
    id: `${repo.owner}/${repo.name}`,
    outs: { ...inputs, httpsUrl: repo.httpsUrl, sshUrl: repo.sshUrl, defaultBranch: repo.defaultBranch ?? "", created: repo.created, exists: true },
  };
}

export function diff(olds: RepositoryOutputs, news: RepositoryInputs): { changes: boolean; replaces: string[] } {
  const replaces = (["owner", "name", "baseUrl"] as const).filter((k) => (olds[k] ?? "") !== (news[k] ?? ""));
  if (olds.exists === false) replaces.push("exists" as never);
  // Visibility of an existing repository is never changed by Mooring; token and flags are just recorded.
  const changes = replaces.length > 0 || (["token", "private", "createRepository", "personal", "description"] as const).some((k) => olds[k] !== news[k]);
  return { changes, replaces };
}

export async function update(olds: RepositoryOutputs, news: RepositoryInputs): Promise<RepositoryOutputs> {
  return { ...olds, ...news };
}

/** Read the repository; `pulumi import` passes `owner/name` as the id with no props. */
export async function read(id: string, props: Partial<RepositoryOutputs> & { token?: string; baseUrl?: string }): Promise<{ id: string; props: Partial<RepositoryOutputs> }> {
  const [owner, name] = id.split("/");
  if (!owner || !name) throw new Error(`repository id "${id}" is not owner/name`);
  const octokit = new Octokit({ auth: props.token, baseUrl: (props.baseUrl ?? "https://api.github.com").replace(/\/+$/, ""), userAgent: "mooring-bootstrap" });
  try {
    const { data } = await octokit.rest.repos.get({ owner, repo: name });
    const sshUrl = /^ssh:\/\//.test(data.ssh_url) ? data.ssh_url : data.ssh_url.replace(/^([^@]+@)?([^:]+):/, "ssh://$1$2/");
    return { id, props: { ...props, owner: data.owner.login, name: data.name, private: data.private, httpsUrl: data.clone_url, sshUrl, defaultBranch: data.default_branch ?? "", exists: true } };
  } catch (err) {
    if ((err as { status?: number }).status === 404) return { id, props: { ...props, exists: false } };
    throw err;
  }
}

/** Destroy keeps the repository: its history outlives the cluster. Delete it on GitHub when you mean to. */
export async function remove(): Promise<void> {}
