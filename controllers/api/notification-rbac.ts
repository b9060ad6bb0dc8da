// The notification-controller's identity and RBAC: its own CRDs (Receiver status and finalizers), Secrets
// read-only (provider and receiver tokens), Events, reading and annotating the Flux objects Receivers name
// and Alerts select by labels, and Leases in its own namespace for leader election.
import { NotificationControllerName, NotificationGroup } from "./notification";
import type { RbacObject } from "./rbac";

const labels = { "app.kubernetes.io/part-of": "mooring", "app.kubernetes.io/component": NotificationControllerName };

/** The Flux groups whose objects a Receiver may ask to reconcile. */
const triggerable: { group: string; resources: string[] }[] = [
  { group: "source.toolkit.fluxcd.io", resources: ["gitrepositories", "ocirepositories", "buckets", "helmrepositories", "helmcharts"] },
  { group: "kustomize.toolkit.fluxcd.io", resources: ["kustomizations"] },
  { group: "helm.toolkit.fluxcd.io", resources: ["helmreleases"] },
  { group: "image.toolkit.fluxcd.io", resources: ["imagerepositories", "imagepolicies", "imageupdateautomations"] },
];

export function notificationControllerRbac(namespace: string, serviceAccountName = NotificationControllerName): RbacObject[] {
  const clusterRole = `mooring-${NotificationControllerName}`;
  const leaderRole = `${NotificationControllerName}-leader-election`;
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: serviceAccountName, namespace, labels } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: clusterRole, labels },
      rules: [
        { apiGroups: [NotificationGroup], resources: ["alerts", "providers", "receivers"], verbs: ["get", "list", "watch"] },
        { apiGroups: [NotificationGroup], resources: ["receivers"], verbs: ["update", "patch"] },
        { apiGroups: [NotificationGroup], resources: ["receivers/status"], verbs: ["get", "update", "patch"] },
        { apiGroups: [NotificationGroup], resources: ["receivers/finalizers"], verbs: ["get", "create", "update", "patch", "delete"] },
        ...triggerable.map((t) => ({ apiGroups: [t.group], resources: t.resources, verbs: ["get", "list", "watch", "patch"] })),
        { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
      ],
    },
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
