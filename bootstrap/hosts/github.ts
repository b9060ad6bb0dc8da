// GitHub (and GitHub Enterprise through baseUrl) via @octokit/rest: find or create the repository,
// and manage its deploy key idempotently.
import { Octokit } from "@octokit/rest";
import { BootstrapError, type BootstrapReason } from "../errors";
import type { GitCredentials } from "../git/credentials";
import { publicKeyIdentity } from "../ssh/keys";
import { toSshUrl } from "./git";
import type { DeployKeyRequest, DeployKeyResult, GitHost, HostDeployKey, HostRepository, RepositoryRequest } from "./types";

export interface GitHubHostOptions {
  /** Personal access token or app token with `repo` (and `admin:org` to create in an organization). A secret. */
  token: string;
  /** REST API base. Default `https://api.github.com`; GitHub Enterprise: `https://<host>/api/v3`. */
  baseUrl?: string;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

interface RepoData {
  name: string;
  owner: { login: string };
  private: boolean;
  clone_url: string;
  ssh_url: string;
  default_branch?: string | null;
}

interface KeyData {
  id: number;
  key: string;
  title: string;
  read_only: boolean;
}

interface RequestFailure {
  status: number;
  message: string;
  details: string[];
}

function failure(err: unknown): RequestFailure | undefined {
  if (typeof err !== "object" || err === null || typeof (err as { status?: unknown }).status !== "number") return undefined;
  const status = (err as { status: number }).status;
  const data = (err as { response?: { data?: unknown } }).response?.data as { message?: unknown; errors?: unknown } | undefined;
  const message = typeof data?.message === "string" ? data.message : (err as Error).message ?? "";
  const details = Array.isArray(data?.errors)
    ? data.errors.map((e: unknown) => (typeof e === "string" ? e : String((e as { message?: unknown; code?: unknown }).message ?? (e as { code?: unknown }).code ?? "")))
    : [];
  return { status, message, details };
}

function describe(f: RequestFailure): string {
  return [f.message, ...f.details].filter(Boolean).join(": ");
}

const toKey = (k: KeyData): HostDeployKey => ({ id: String(k.id), title: k.title, publicKey: publicKeyIdentity(k.key), readOnly: k.read_only });

export class GitHubHost implements GitHost {
  readonly kind = "github" as const;
  private readonly octokit: Octokit;
  private readonly apiUrl: string;
  private readonly timeoutMs: number;
  private login: string | undefined;

  constructor(private readonly options: GitHubHostOptions) {
    if (!options.token) throw new BootstrapError("InvalidInput", "github: a token is required");
    this.apiUrl = (options.baseUrl ?? "https://api.github.com").replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.octokit = new Octokit({
      auth: options.token,
      baseUrl: this.apiUrl,
      userAgent: "mooring-bootstrap",
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
  }

  pushCredentials(): GitCredentials {
    return { kind: "basic", username: "x-access-token", password: this.options.token };
  }

  private request(signal: AbortSignal | undefined): { signal: AbortSignal } {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return { signal: signal ? AbortSignal.any([signal, timeout]) : timeout };
  }

  /** Turn a failed call into an error value; 401 is always about the token. */
  private error(err: unknown, reason: BootstrapReason, action: string): BootstrapError {
    const f = failure(err);
    if (f?.status === 401) {
      return new BootstrapError("HostAuthFailed", `github: ${action} at ${this.apiUrl} failed: the token was rejected (401 ${f.message}); check that it is valid and not expired`);
    }
    if (f) {
      const hint = f.status === 403 || f.status === 404 ? " (does the token have the repo scope and access to this owner?)" : "";
      return new BootstrapError(reason, `github: ${action} failed: ${f.status} ${describe(f)}${hint}`);
    }
    const message = err instanceof Error ? err.message : String(err);
    return new BootstrapError("HostRequestFailed", `github: ${action} at ${this.apiUrl} failed: ${message.split(this.options.token).join("***")}`);
  }

  private async authenticatedLogin(signal?: AbortSignal): Promise<string> {
    if (this.login === undefined) {
      try {
        const { data } = await this.octokit.rest.users.getAuthenticated({ request: this.request(signal) });
        this.login = data.login;
      } catch (err) {
        throw this.error(err, "HostRequestFailed", "reading the authenticated user");
      }
    }
    return this.login;
  }

  private toRepository(data: RepoData, created: boolean): HostRepository {
    return {
      owner: data.owner.login,
      name: data.name,
      httpsUrl: data.clone_url,
      // GitHub answers `git@github.com:acme/fleet.git`; Flux wants the ssh:// form.
      sshUrl: toSshUrl(data.ssh_url) ?? data.ssh_url,
      defaultBranch: data.default_branch ?? undefined,
      private: data.private,
      created,
    };
  }

  async ensureRepository(request: RepositoryRequest): Promise<HostRepository> {
    const full = `${request.owner}/${request.name}`;
    try {
      const { data } = await this.octokit.rest.repos.get({ owner: request.owner, repo: request.name, request: this.request(request.signal) });
      return this.toRepository(data, false);
    } catch (err) {
      if (failure(err)?.status !== 404) throw this.error(err, "HostRequestFailed", `reading repository ${full}`);
    }
    if (request.createRepository === false) {
      throw new BootstrapError("RepositoryNotFound", `github: repository ${full} not found and createRepository is false; create it or set createRepository`);
    }
    const personal = request.personal ?? (await this.authenticatedLogin(request.signal)).toLowerCase() === request.owner.toLowerCase();
    const body = { name: request.name, private: request.private ?? true, description: request.description, auto_init: false };
    try {
      const { data } = personal
        ? await this.octokit.rest.repos.createForAuthenticatedUser({ ...body, request: this.request(request.signal) })
        : await this.octokit.rest.repos.createInOrg({ org: request.owner, ...body, request: this.request(request.signal) });
      return this.toRepository(data, true);
    } catch (err) {
      const f = failure(err);
      // Someone created it between our read and our create: adopt it.
      if (f?.status === 422 && /already exists/i.test(describe(f))) {
        const { data } = await this.octokit.rest.repos.get({ owner: request.owner, repo: request.name, request: this.request(request.signal) });
        return this.toRepository(data, false);
      }
      if (f?.status === 404 && !personal) {
        throw new BootstrapError("RepositoryCreateFailed", `github: cannot create ${full}: organization ${request.owner} not found or the token cannot create repositories in it (set personal: true for a user account)`);
      }
      throw this.error(err, "RepositoryCreateFailed", `creating repository ${full}`);
    }
  }

  private async listKeys(owner: string, repo: string, signal?: AbortSignal): Promise<HostDeployKey[]> {
    try {
      const keys = await this.octokit.paginate(this.octokit.rest.repos.listDeployKeys, { owner, repo, per_page: 100, request: this.request(signal) });
      return keys.map(toKey);
    } catch (err) {
      throw this.error(err, "DeployKeyFailed", `listing deploy keys of ${owner}/${repo}`);
    }
  }

  async ensureDeployKey(repository: Pick<HostRepository, "owner" | "name">, request: DeployKeyRequest): Promise<DeployKeyResult> {
    const { owner, name } = repository;
    const wanted = publicKeyIdentity(request.publicKey);
    const readOnly = !request.write;
    const existing = await this.listKeys(owner, name, request.signal);
    let key = existing.find((k) => k.publicKey === wanted && k.readOnly === readOnly);
    const removed: HostDeployKey[] = [];
    if (!key) {
      // GitHub keys are immutable and unique per repository: the same key with other access goes first.
      const sameKeyOtherAccess = existing.filter((k) => k.publicKey === wanted);
      await this.deleteKeys(owner, name, sameKeyOtherAccess, request.signal);
      removed.push(...sameKeyOtherAccess);
      try {
        const { data } = await this.octokit.rest.repos.createDeployKey({ owner, repo: name, title: request.title, key: wanted, read_only: readOnly, request: this.request(request.signal) });
        key = toKey(data);
      } catch (err) {
        throw this.error(err, "DeployKeyFailed", `adding deploy key "${request.title}" to ${owner}/${name}`);
      }
    }
    // Rotation: older keys under our title are replaced by this one, after it is in place.
    const previous = existing.filter((k) => k.title === request.title && k.publicKey !== wanted);
    await this.deleteKeys(owner, name, previous, request.signal);
    removed.push(...previous);
    const created = !existing.some((k) => k.id === key.id);
    return { key, action: removed.length > 0 ? "rotated" : created ? "created" : "adopted", removed: removed.map((k) => k.id) };
  }

  private async deleteKeys(owner: string, repo: string, keys: readonly HostDeployKey[], signal?: AbortSignal): Promise<void> {
    for (const k of keys) {
      try {
        await this.octokit.rest.repos.deleteDeployKey({ owner, repo, key_id: Number(k.id), request: this.request(signal) });
      } catch (err) {
        if (failure(err)?.status !== 404) throw this.error(err, "DeployKeyFailed", `removing deploy key ${k.id} ("${k.title}") from ${owner}/${repo}`);
      }
    }
  }

  async removeDeployKey(repository: Pick<HostRepository, "owner" | "name">, match: { id?: string; title?: string; signal?: AbortSignal }): Promise<string[]> {
    if (match.id === undefined && match.title === undefined) throw new BootstrapError("InvalidInput", "github: removeDeployKey needs an id or a title");
    let keys: HostDeployKey[];
    try {
      keys = (await this.listKeys(repository.owner, repository.name, match.signal)).filter((k) => k.id === match.id || k.title === match.title);
    } catch (err) {
      // The repository is gone: so is its key.
      if (err instanceof BootstrapError && /failed: 404/.test(err.message)) return [];
      throw err;
    }
    await this.deleteKeys(repository.owner, repository.name, keys, match.signal);
    return keys.map((k) => k.id);
  }
}
