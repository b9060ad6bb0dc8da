// The kustomize-controller's identity and RBAC: its own CRDs (+status, +finalizers), sources read-only,
// Secrets/ConfigMaps read (postBuild.substituteFrom), ServiceAccount impersonation, Events, Leases in its
// own namespace. Applying arbitrary objects is granted by a binding to cluster-admin, as Flux's install does.
import { SourceGroup } from "./source";
import { KustomizeGroup } from "./kustomize";
import type { RbacObject } from "./rbac";

export const KustomizeControllerName = "kustomize-controller";

const labels = { "app.kubernetes.io/part-of": "mooring", "app.kubernetes.io/component": KustomizeControllerName };
const kustomizePlurals = ["kustomizations"];
const sourcePlurals = ["gitrepositories", "ocirepositories", "buckets"];

/** The ClusterRole rules the controller itself needs (without the cluster-admin binding). */
export function kustomizeControllerRules(): { apiGroups: string[]; resources: string[]; verbs: string[] }[] {
  return [
    { apiGroups: [KustomizeGroup], resources: kustomizePlurals, verbs: ["get", "list", "watch", "update", "patch"] },
    { apiGroups: [KustomizeGroup], resources: kustomizePlurals.map((p) => `${p}/status`), verbs: ["get", "update", "patch"] },
    { apiGroups: [KustomizeGroup], resources: kustomizePlurals.map((p) => `${p}/finalizers`), verbs: ["get", "create", "update", "patch", "delete"] },
    { apiGroups: [SourceGroup], resources: sourcePlurals, verbs: ["get", "list", "watch"] },
    { apiGroups: [SourceGroup], resources: sourcePlurals.map((p) => `${p}/status`), verbs: ["get"] },
    { apiGroups: [""], resources: ["secrets", "configmaps"], verbs: ["get", "list", "watch"] },
    { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["impersonate"] },
    { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
  ];
}

export interface KustomizeRbacOptions {
  serviceAccountName?: string;
  /** Bind the ServiceAccount to cluster-admin so it can apply any object (Flux's "cluster-reconciler"). Default true. */
  clusterAdmin?: boolean;
}

export function kustomizeControllerRbac(namespace: string, o: KustomizeRbacOptions = {}): RbacObject[] {
  const sa = o.serviceAccountName ?? KustomizeControllerName;
  const clusterRole = `mooring-${KustomizeControllerName}`;
  const subjects = [{ kind: "ServiceAccount", name: sa, namespace }];
  const objs: RbacObject[] = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa, namespace, labels } },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: clusterRole, labels }, rules: kustomizeControllerRules() },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${clusterRole}-${namespace}`, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
      subjects,
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: `${KustomizeControllerName}-leader-election`, namespace, labels },
      rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${KustomizeControllerName}-leader-election`, namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${KustomizeControllerName}-leader-election` },
      subjects,
    },
  ];
  if (o.clusterAdmin !== false) {
    objs.push({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `mooring-cluster-reconciler-${namespace}`, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects,
    });
  }
  return objs;
}
