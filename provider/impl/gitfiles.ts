// The commit of the flux-system files: create/update commit what the settings render (one commit per
// change, none when the branch already holds it), read looks at the branch, delete removes the files.
import {
  commitToBranch,
  componentsFile,
  defaultKustomization,
  fluxSystemDir,
  kustomizationFile,
  readRemoteHead,
  syncFile,
  type CommitAuthor,
  type GitCredentials,
  type InstallOptions,
  type SyncOptions,
} from "../../bootstrap";
import { allFiles, digests, generatedFiles } from "./render";
import { readBranchFiles } from "./gitread";

export interface GitFilesInputs {
  /** Push URL (https with credentials, ssh, or file://). */
  url: string;
  branch: string;
  path: string;
  credentials: GitCredentials;
  author: CommitAuthor;
  install: InstallOptions;
  sync: SyncOptions;
  /** Remove the files on delete. */
  deleteOnDestroy: boolean;
}

export interface GitFilesOutputs extends GitFilesInputs {
  /** The branch head after the last write (our commit, or the head that already held the content). */
  commit: string;
  /** Digests of the generated files as last written or read (refresh): what the branch holds. */
  digests: Record<string, string>;
}

export function generatedPaths(path: string): string[] {
  const dir = fluxSystemDir(path);
  return [`${dir}/${componentsFile}`, `${dir}/${syncFile}`];
}

/** What the branch should hold for these inputs (kustomization.yaml excluded: a user's file is kept). */
export function expectedDigests(inputs: Pick<GitFilesInputs, "install" | "sync" | "path">): Record<string, string> {
  return digests(generatedFiles(inputs.install, inputs.sync, inputs.path));
}

function message(inputs: GitFilesInputs, verb: string): string {
  const controllers = (inputs.install.controllers ?? []).join(", ") || "all controllers";
  return `${verb} Mooring v${inputs.install.version.replace(/^v/, "")} (${controllers}) in ${fluxSystemDir(inputs.path)}`;
}

export async function writeFiles(inputs: GitFilesInputs, verb: string): Promise<GitFilesOutputs> {
  const result = await commitToBranch({
    url: inputs.url,
    branch: inputs.branch,
    credentials: inputs.credentials,
    author: inputs.author,
    message: message(inputs, verb),
    change: async (tree) => {
      const dir = fluxSystemDir(inputs.path);
      const existing = await tree.read(`${dir}/${kustomizationFile}`);
      return { write: allFiles(inputs.install, inputs.sync, inputs.path, existing) };
    },
  });
  const commit = result.commit ?? (await readRemoteHead({ url: inputs.url, branch: inputs.branch, credentials: inputs.credentials }));
  if (!commit) throw new Error(`git: branch ${inputs.branch} has no commit after writing the flux-system files`);
  return { ...inputs, commit, digests: expectedDigests(inputs) };
}

export async function create(inputs: GitFilesInputs): Promise<{ id: string; outs: GitFilesOutputs }> {
  const outs = await writeFiles(inputs, "Add");
  return { id: `${scrubbedUrl(inputs.url)}#${inputs.branch}:${fluxSystemDir(inputs.path)}`, outs };
}

function scrubbedUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, "//");
}

const replaceKeys = ["url", "branch", "path"] as const;

export function diff(olds: GitFilesOutputs, news: GitFilesInputs): { changes: boolean; replaces: string[]; detailedDiff?: Record<string, { kind: "update" | "update-replace" }> } {
  const replaces = replaceKeys.filter((k) => scrubbedUrl(String(olds[k])) !== scrubbedUrl(String(news[k])));
  const changed: string[] = [];
  if (JSON.stringify(olds.digests) !== JSON.stringify(expectedDigests(news))) changed.push("digests");
  for (const k of ["author", "credentials", "deleteOnDestroy"] as const) {
    if (JSON.stringify(olds[k]) !== JSON.stringify(news[k])) changed.push(k);
  }
  const detailedDiff: Record<string, { kind: "update" | "update-replace" }> = {};
  for (const k of changed) detailedDiff[k] = { kind: "update" };
  for (const k of replaces) detailedDiff[k] = { kind: "update-replace" };
  return { changes: replaces.length > 0 || changed.length > 0, replaces: [...replaces], detailedDiff };
}

export async function update(olds: GitFilesOutputs, news: GitFilesInputs): Promise<GitFilesOutputs> {
  if (JSON.stringify(olds.digests) === JSON.stringify(expectedDigests(news))) {
    // Only author/credentials/deleteOnDestroy changed: nothing to commit.
    return { ...news, commit: olds.commit, digests: olds.digests };
  }
  return writeFiles(news, "Update");
}

/** The branch as it is: the digests of the generated files there and the head commit. */
export async function read(id: string, props: GitFilesOutputs): Promise<{ id: string; props: GitFilesOutputs }> {
  const paths = generatedPaths(props.path);
  const { head, files } = await readBranchFiles({ url: props.url, branch: props.branch, credentials: props.credentials }, paths);
  return { id, props: { ...props, commit: head ?? props.commit, digests: digests(files) } };
}

export async function remove(props: GitFilesOutputs): Promise<void> {
  if (!props.deleteOnDestroy) return;
  const dir = fluxSystemDir(props.path);
  await commitToBranch({
    url: props.url,
    branch: props.branch,
    credentials: props.credentials,
    author: props.author,
    message: `Remove Mooring from ${dir}`,
    change: async (tree) => {
      const paths = generatedPaths(props.path);
      // kustomization.yaml goes only when it is still the one we wrote: a user's file is theirs.
      const kustomization = await tree.read(`${dir}/${kustomizationFile}`);
      if (kustomization !== undefined && kustomization === defaultKustomization()) paths.push(`${dir}/${kustomizationFile}`);
      return { delete: paths };
    },
  });
}

