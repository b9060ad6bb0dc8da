// The image controllers' identities and least-privilege RBAC. image-reflector-controller: its own kinds
// (ImageRepository, ImagePolicy status and finalizers), Secrets read-only (registry credentials and CAs),
// Namespaces read-only (ImageRepository accessFrom), Events. image-automation-controller: ImageUpdateAutomation
// status and finalizers, ImagePolicies and GitRepositories read-only, Secrets read-only (git credentials and
// signing keys), Events. Both take Leases in their own namespace for leader election.
import { ImageGroup } from "./image";
import { SourceGroup } from "./source";
import type { RbacObject, RbacRule } from "./rbac";

export const ImageReflectorControllerName = "image-reflector-controller";
export const ImageAutomationControllerName = "image-automation-controller";

function identity(controller: string, namespace: string, rules: RbacRule[], serviceAccountName: string): RbacObject[] {
  const labels = { "app.kubernetes.io/part-of": "mooring", "app.kubernetes.io/component": controller };
  const clusterRole = `mooring-${controller}`;
  const leaderRole = `${controller}-leader-election`;
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: serviceAccountName, namespace, labels } },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: clusterRole, labels }, rules },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${clusterRole}-${namespace}`, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
      subjects: [{ kind: "ServiceAccount", name: serviceAccountName, namespace }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: leaderRole, namespace, labels },
      rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: leaderRole, namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: leaderRole },
      subjects: [{ kind: "ServiceAccount", name: serviceAccountName, namespace }],
    },
  ];
}

const events: RbacRule = { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] };
const secretsRead: RbacRule = { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] };

export function imageReflectorControllerRbac(namespace: string, serviceAccountName = ImageReflectorControllerName): RbacObject[] {
  return identity(
    ImageReflectorControllerName,
    namespace,
    [
      { apiGroups: [ImageGroup], resources: ["imagerepositories", "imagepolicies"], verbs: ["get", "list", "watch", "update", "patch"] },
      { apiGroups: [ImageGroup], resources: ["imagerepositories/status", "imagepolicies/status"], verbs: ["get", "update", "patch"] },
      { apiGroups: [ImageGroup], resources: ["imagerepositories/finalizers", "imagepolicies/finalizers"], verbs: ["get", "create", "update", "patch", "delete"] },
      secretsRead,
      { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
      events,
    ],
    serviceAccountName,
  );
}

export function imageAutomationControllerRbac(namespace: string, serviceAccountName = ImageAutomationControllerName): RbacObject[] {
  return identity(
    ImageAutomationControllerName,
    namespace,
    [
      { apiGroups: [ImageGroup], resources: ["imageupdateautomations"], verbs: ["get", "list", "watch", "update", "patch"] },
      { apiGroups: [ImageGroup], resources: ["imageupdateautomations/status"], verbs: ["get", "update", "patch"] },
      { apiGroups: [ImageGroup], resources: ["imageupdateautomations/finalizers"], verbs: ["get", "create", "update", "patch", "delete"] },
      { apiGroups: [ImageGroup], resources: ["imagepolicies"], verbs: ["get", "list", "watch"] },
      { apiGroups: [SourceGroup], resources: ["gitrepositories"], verbs: ["get", "list", "watch"] },
      secretsRead,
      events,
    ],
    serviceAccountName,
  );
}
