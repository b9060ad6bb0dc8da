// bitbucket (Cloud): a build status (POST /2.0/repositories/{workspace}/{repo}/commit/{sha}/statuses/build) with
// the token "<username>:<app password>" as basic auth: SUCCESSFUL or FAILED; Bitbucket caps the key at 40
// characters, so the key is the sha1 of Flux's id and the name the id itself. api.bitbucket.org for
// bitbucket.org, else the address's origin.
import { createHash } from "node:crypto";
import { postJSON } from "./http";
import { commitOfNotification, commitStatusDescription, commitStatusId, repositoryAddress } from "./commitstatus";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

export const bitbucketApiBase = (origin: string): string => (/^https:\/\/(www\.)?bitbucket\.org$/.test(origin) ? "https://api.bitbucket.org" : origin);

export const bitbucket: ProviderModule = {
  type: "bitbucket",
  commitStatus: true,
  async send(n: Notification, p: ProviderConfig) {
    const sep = p.token?.indexOf(":") ?? -1;
    if (!p.token || sep <= 0) throw new Error("the bitbucket provider needs a 'token' of the form <username>:<app-password> in its secretRef");
    const sha = commitOfNotification(n);
    if (!sha) return;
    const repo = repositoryAddress(p.address, "bitbucket");
    const [workspace, slug] = repo.path.split("/");
    const id = commitStatusId(n, p.uidPrefix);
    const doc = { state: n.event.severity === "error" ? "FAILED" : "SUCCESSFUL", key: createHash("sha1").update(id).digest("hex"), name: id, description: commitStatusDescription(n), url: "https://bitbucket.org" };
    const auth = `Basic ${Buffer.from(p.token).toString("base64")}`;
    await postJSON(`${bitbucketApiBase(repo.origin)}/2.0/repositories/${workspace}/${slug}/commit/${sha}/statuses/build`, doc, { authorization: auth, ...p.headers }, p.request);
  },
};
