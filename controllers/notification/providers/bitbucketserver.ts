// bitbucketserver: a build status (POST /rest/api/1.0/projects/{key}/repos/{slug}/commits/{sha}/builds) from
// an address https://host/scm/<key>/<slug>(.git) or https://host/projects/<key>/repos/<slug>: SUCCESSFUL or
// FAILED, Flux's id as key. A token is a Bearer token; else username and password.
import { postJSON } from "./http";
import { commitOfNotification, commitStatusDescription, commitStatusId, repositoryAddress } from "./commitstatus";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

export const bitbucketserver: ProviderModule = {
  type: "bitbucketserver",
  commitStatus: true,
  async send(n: Notification, p: ProviderConfig) {
    const sha = commitOfNotification(n);
    if (!sha) return;
    const repo = repositoryAddress(p.address, "bitbucketserver");
    const parts = repo.path.split("/");
    const [key, slug] = parts[0] === "scm" || parts[0] === "projects" ? [parts[1], parts[parts.length - 1]] : [parts[0], parts[1]];
    if (!key || !slug) throw new Error("the bitbucketserver provider's address must be https://host/scm/<project>/<repository>");
    const auth = p.token ? `Bearer ${p.token}` : p.username && p.password ? `Basic ${Buffer.from(`${p.username}:${p.password}`).toString("base64")}` : undefined;
    if (!auth) throw new Error("the bitbucketserver provider needs a 'token', or 'username' and 'password', in its secretRef");
    const id = commitStatusId(n, p.uidPrefix);
    const doc = { state: n.event.severity === "error" ? "FAILED" : "SUCCESSFUL", key: id, name: id, description: commitStatusDescription(n), url: p.address };
    await postJSON(`${repo.origin}/rest/api/1.0/projects/${key}/repos/${slug}/commits/${sha}/builds`, doc, { authorization: auth, ...p.headers }, p.request);
  },
};
