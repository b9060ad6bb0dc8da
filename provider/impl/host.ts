// The git host a Bootstrap talks to, from plain settings.
import { GitHubHost, PlainGitHost, type GitHost } from "../../bootstrap";

/** Plain JSON description of the host (the token is a secret input). */
export type HostSpec = { kind: "git"; url: string } | { kind: "github"; token: string; baseUrl?: string };

export function hostOf(spec: HostSpec): GitHost {
  return spec.kind === "github" ? new GitHubHost({ token: spec.token, baseUrl: spec.baseUrl }) : new PlainGitHost({ url: spec.url });
}
