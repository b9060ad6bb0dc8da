// gitlab: a commit status (POST /api/v4/projects/:id/statuses/:sha, the project id being its URL-encoded
// path) with the token in PRIVATE-TOKEN: success for info, failed for errors, Flux's id as the status name.
import { postJSON } from "./http";
import { commitOfNotification, commitStatusDescription, commitStatusId, repositoryAddress } from "./commitstatus";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

export const gitlab: ProviderModule = {
  type: "gitlab",
  commitStatus: true,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the gitlab provider needs a 'token' in its secretRef");
    const sha = commitOfNotification(n);
    if (!sha) return;
    const repo = repositoryAddress(p.address, "gitlab");
    const doc = { state: n.event.severity === "error" ? "failed" : "success", name: commitStatusId(n, p.uidPrefix), description: commitStatusDescription(n) };
    await postJSON(`${repo.origin}/api/v4/projects/${encodeURIComponent(repo.path)}/statuses/${sha}`, doc, { "PRIVATE-TOKEN": p.token, ...p.headers }, p.request);
  },
};
