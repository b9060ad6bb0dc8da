// Mooring's Pulumi component package: `new Bootstrap("fleet", { cluster, git | github, … })`.
export { Bootstrap } from "./bootstrap";
export type { AuthorArgs, BootstrapArgs, ClusterArgs, GitArgs, GitCredentialsArgs, GitHubArgs, ImageArgs } from "./args";
export type { Condition } from "./impl/status";
