// githubdispatch: a repository_dispatch event (POST /repos/{owner}/{repo}/dispatches) on the repository at the
// address: event_type "<Kind>/<name>.<namespace>", client_payload the Flux event (metadata as providers see it).
import { postJSON } from "./http";
import { githubApiBase } from "./github";
import { repositoryAddress } from "./commitstatus";
import { objectLine, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export const githubdispatch: ProviderModule = {
  type: "githubdispatch",
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the githubdispatch provider needs a 'token' in its secretRef");
    const repo = repositoryAddress(p.address, "githubdispatch");
    const payload = { ...n.event, metadata: Object.keys(n.metadata).length ? n.metadata : undefined };
    const headers = { accept: "application/vnd.github+json", authorization: `Bearer ${p.token}`, "x-github-api-version": "2022-11-28", ...p.headers };
    await postJSON(`${githubApiBase(repo.origin)}/repos/${repo.path}/dispatches`, { event_type: objectLine(n), client_payload: payload }, headers, p.request);
  },
};
