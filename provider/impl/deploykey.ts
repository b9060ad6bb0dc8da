// The cluster's read-only deploy key: an ed25519 pair made on create, registered with the host when it
// has an API (GitHub), reported as publicKey for a plain git host; removed from the host on delete.
import { Octokit } from "@octokit/rest";
import { fingerprintOfPublicKey, generateDeployKey, publicKeyIdentity, resolveKnownHosts } from "../../bootstrap";
import { hostOf, type HostSpec } from "./host";

export interface DeployKeyInputs {
  host: HostSpec;
  owner: string;
  repository: string;
  /** Title at the host, e.g. `mooring-flux-system`; keys with this title are rotated to this one. */
  title: string;
  /** Grant push access. */
  write: boolean;
  /** The SSH server the cluster reads from, for known_hosts. */
  sshHost: string;
  sshPort: number;
  /** known_hosts the user vouches for; scanned with ssh-keyscan when absent. */
  knownHosts?: string;
}

export interface DeployKeyOutputs extends DeployKeyInputs {
  publicKey: string;
  privateKey: string;
  fingerprint: string;
  /** Host's key id ("" for a plain git host). */
  keyId: string;
  resolvedKnownHosts: string;
  /** Whether the host still has the key (refresh). */
  registered: boolean;
}

export async function create(inputs: DeployKeyInputs): Promise<{ id: string; outs: DeployKeyOutputs }> {
  const key = generateDeployKey(inputs.title);
  const resolvedKnownHosts = await resolveKnownHosts({ host: inputs.sshHost, port: inputs.sshPort, knownHosts: inputs.knownHosts });
  const registered = await hostOf(inputs.host).ensureDeployKey({ owner: inputs.owner, name: inputs.repository }, { title: inputs.title, publicKey: key.publicKey, write: inputs.write });
  const keyId = registered.key.id;
  return {
    id: keyId || key.fingerprint,
    outs: { ...inputs, publicKey: key.publicKey, privateKey: key.privateKey, fingerprint: key.fingerprint, keyId, resolvedKnownHosts, registered: true },
  };
}

const replaceKeys = ["owner", "repository", "title", "write", "sshHost", "sshPort"] as const;

export function diff(olds: DeployKeyOutputs, news: DeployKeyInputs): { changes: boolean; replaces: string[] } {
  const replaces: string[] = replaceKeys.filter((k) => olds[k] !== news[k]);
  if (olds.host.kind !== news.host.kind || (olds.host.kind === "github" && news.host.kind === "github" && olds.host.baseUrl !== news.host.baseUrl)) replaces.push("host");
  // A key the host lost (seen by refresh) is made and registered again.
  if (olds.registered === false) replaces.push("registered");
  const changes = replaces.length > 0 || JSON.stringify(olds.host) !== JSON.stringify(news.host) || (olds.knownHosts ?? "") !== (news.knownHosts ?? "");
  return { changes, replaces };
}

export async function update(olds: DeployKeyOutputs, news: DeployKeyInputs): Promise<DeployKeyOutputs> {
  const resolvedKnownHosts = (olds.knownHosts ?? "") === (news.knownHosts ?? "") ? olds.resolvedKnownHosts : await resolveKnownHosts({ host: news.sshHost, port: news.sshPort, knownHosts: news.knownHosts });
  return { ...olds, ...news, resolvedKnownHosts };
}

async function githubHasKey(spec: Extract<HostSpec, { kind: "github" }>, owner: string, repo: string, publicKey: string): Promise<boolean> {
  const octokit = new Octokit({ auth: spec.token, baseUrl: (spec.baseUrl ?? "https://api.github.com").replace(/\/+$/, ""), userAgent: "mooring-bootstrap" });
  try {
    const keys = await octokit.paginate(octokit.rest.repos.listDeployKeys, { owner, repo, per_page: 100 });
    return keys.some((k) => publicKeyIdentity(k.key) === publicKeyIdentity(publicKey));
  } catch (err) {
    if ((err as { status?: number }).status === 404) return false;
    throw err;
  }
}

export async function read(id: string, props: DeployKeyOutputs): Promise<{ id: string; props: DeployKeyOutputs }> {
  const registered = props.host.kind === "github" ? await githubHasKey(props.host, props.owner, props.repository, props.publicKey) : true;
  return { id, props: { ...props, fingerprint: fingerprintOfPublicKey(props.publicKey), registered } };
}

export async function remove(props: DeployKeyOutputs): Promise<void> {
  await hostOf(props.host).removeDeployKey({ owner: props.owner, name: props.repository }, props.keyId ? { id: props.keyId } : { title: props.title });
}
