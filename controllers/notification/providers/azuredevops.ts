// azuredevops: a commit status (POST {org}/{project}/_apis/git/repositories/{repo}/commits/{sha}/statuses) on the
// repository https://dev.azure.com/<org>/<project>/_git/<repo>, the personal access token as basic auth:
// succeeded or error, context genre "fluxcd" ("fluxcd:<summary>" with a summary) and name Flux's id.
import { postJSON } from "./http";
import { commitOfNotification, commitStatusDescription, commitStatusId } from "./commitstatus";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

export function azureDevOpsRepository(address: string): { base: string; repository: string } {
  let u: URL;
  try {
    u = new URL(address);
  } catch {
    throw new Error("the azuredevops provider's address must be https://dev.azure.com/<org>/<project>/_git/<repository>");
  }
  const parts = u.pathname.split("/").filter(Boolean);
  const git = parts.indexOf("_git");
  if (git < 1 || git !== parts.length - 2) throw new Error("the azuredevops provider's address must be https://dev.azure.com/<org>/<project>/_git/<repository>");
  return { base: `${u.protocol}//${u.host}/${parts.slice(0, git).join("/")}`, repository: parts[git + 1]! };
}

export const azuredevops: ProviderModule = {
  type: "azuredevops",
  commitStatus: true,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the azuredevops provider needs a personal access 'token' in its secretRef");
    const sha = commitOfNotification(n);
    if (!sha) return;
    const repo = azureDevOpsRepository(p.address);
    const summary = n.metadata.summary;
    const doc = {
      state: n.event.severity === "error" ? "error" : "succeeded",
      description: commitStatusDescription(n),
      context: { genre: summary ? `fluxcd:${summary}` : "fluxcd", name: commitStatusId(n, p.uidPrefix) },
    };
    const url = `${repo.base}/_apis/git/repositories/${encodeURIComponent(repo.repository)}/commits/${sha}/statuses?api-version=6.0`;
    await postJSON(url, doc, { authorization: `Basic ${Buffer.from(`:${p.token}`).toString("base64")}`, ...p.headers }, p.request);
  },
};
