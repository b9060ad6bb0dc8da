// The resource types of the `mooring` provider plugin, shared by the resources (provider/resources.ts) and the
// plugin that serves them (provider/plugin.ts).

export const resourceTypeNames = ["GitHubRepository", "DeployKey", "GitFiles", "ClusterInstall", "SyncStatus"] as const;

export type ResourceTypeName = (typeof resourceTypeNames)[number];

/** The type token Pulumi records: `mooring:index:<Name>`. */
export const typeToken = (name: ResourceTypeName): string => `mooring:index:${name}`;
