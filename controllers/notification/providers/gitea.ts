// gitea: a commit status (POST /api/v1/repos/{owner}/{repo}/statuses/{sha}) with "Authorization: token …":
// success for info, failure for errors, Flux's context and description.
import { postJSON } from "./http";
import { commitOfNotification, commitStatusDescription, commitStatusId, repositoryAddress } from "./commitstatus";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

export const gitea: ProviderModule = {
  type: "gitea",
  commitStatus: true,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the gitea provider needs a 'token' in its secretRef");
    const sha = commitOfNotification(n);
    if (!sha) return;
    const repo = repositoryAddress(p.address, "gitea");
    const doc = { state: n.event.severity === "error" ? "failure" : "success", context: commitStatusId(n, p.uidPrefix), description: commitStatusDescription(n) };
    await postJSON(`${repo.origin}/api/v1/repos/${repo.path}/statuses/${sha}`, doc, { authorization: `token ${p.token}`, ...p.headers }, p.request);
  },
};
