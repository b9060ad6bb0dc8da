// The source-watcher's identity and least-privilege RBAC: its ArtifactGenerators (+status, +finalizers), the
// sources it reads, the ExternalArtifacts it writes (+status), Events, and Leases in its own namespace. It
// applies nothing else, so it has no cluster-admin binding.
import { reconcilerRbac, type RbacObject } from "./rbac";
import { SourceGroup } from "./source";
import { SourceExtensionsGroup } from "./source-extensions";

export const SourceWatcherControllerName = "source-watcher";

export function sourceWatcherRbac(namespace: string, serviceAccountName = SourceWatcherControllerName): RbacObject[] {
  return reconcilerRbac(
    SourceWatcherControllerName,
    namespace,
    [
      { apiGroups: [SourceExtensionsGroup], resources: ["artifactgenerators"], verbs: ["get", "list", "watch", "update", "patch"] },
      { apiGroups: [SourceExtensionsGroup], resources: ["artifactgenerators/status"], verbs: ["get", "update", "patch"] },
      { apiGroups: [SourceExtensionsGroup], resources: ["artifactgenerators/finalizers"], verbs: ["get", "create", "update", "patch", "delete"] },
      { apiGroups: [SourceGroup], resources: ["gitrepositories", "ocirepositories", "buckets", "helmcharts"], verbs: ["get", "list", "watch"] },
      { apiGroups: [SourceGroup], resources: ["externalartifacts"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
      { apiGroups: [SourceGroup], resources: ["externalartifacts/status"], verbs: ["get", "update", "patch"] },
      { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
    ],
    { serviceAccountName, clusterAdmin: false },
  );
}
