// github: a commit status (POST /repos/{owner}/{repo}/statuses/{sha}) on the commit the event is about:
// success for info, failure for errors, Flux's context and description. The API base is api.github.com for
// github.com, else https://<host>/api/v3 (GitHub Enterprise).
import { postJSON } from "./http";
import { commitOfNotification, commitStatusDescription, commitStatusId, repositoryAddress } from "./commitstatus";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

export function githubApiBase(origin: string): string {
  return /^https:\/\/(www\.)?github\.com$/.test(origin) ? "https://api.github.com" : `${origin}/api/v3`;
}

export const github: ProviderModule = {
  type: "github",
  commitStatus: true,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the github provider needs a 'token' in its secretRef");
    const sha = commitOfNotification(n);
    if (!sha) return;
    const repo = repositoryAddress(p.address, "github");
    const doc = { state: n.event.severity === "error" ? "failure" : "success", context: commitStatusId(n, p.uidPrefix), description: commitStatusDescription(n).slice(0, 140) };
    await postJSON(`${githubApiBase(repo.origin)}/repos/${repo.path}/statuses/${sha}`, doc, { accept: "application/vnd.github+json", authorization: `Bearer ${p.token}`, "x-github-api-version": "2022-11-28", ...p.headers }, p.request);
  },
};
