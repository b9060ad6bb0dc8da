// The source-controller's identity and least-privilege RBAC: its own CRDs (+status, +finalizers), Secrets
// read-only, Events create, and Leases in its own namespace for leader election.
import { SourceGroup } from "./source";

export const SourceControllerName = "source-controller";

export interface RbacObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

const sourcePlurals = ["gitrepositories", "helmrepositories", "helmcharts", "ocirepositories", "buckets"];
const labels = { "app.kubernetes.io/part-of": "mooring", "app.kubernetes.io/component": SourceControllerName };

export function sourceControllerRbac(namespace: string, serviceAccountName = SourceControllerName): RbacObject[] {
  const clusterRole = `mooring-${SourceControllerName}`;
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: serviceAccountName, namespace, labels } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: clusterRole, labels },
      rules: [
        { apiGroups: [SourceGroup], resources: sourcePlurals, verbs: ["get", "list", "watch", "update", "patch"] },
        { apiGroups: [SourceGroup], resources: sourcePlurals.map((p) => `${p}/status`), verbs: ["get", "update", "patch"] },
        { apiGroups: [SourceGroup], resources: sourcePlurals.map((p) => `${p}/finalizers`), verbs: ["get", "create", "update", "patch", "delete"] },
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
      metadata: { name: `${SourceControllerName}-leader-election`, namespace, labels },
      rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${SourceControllerName}-leader-election`, namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${SourceControllerName}-leader-election` },
      subjects: [{ kind: "ServiceAccount", name: serviceAccountName, namespace }],
    },
  ];
}

/** A rule of a ClusterRole or Role. */
export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/**
 * A reconciler's identity: its ServiceAccount, a ClusterRole with its own rules bound to it, leader election
 * Leases in its namespace, and (unless turned off) the cluster-admin binding that lets it apply anything
 * (Flux's "cluster-reconciler"), named `clusterAdminBinding`; without a name there is none.
 */
export function reconcilerRbac(controller: string, namespace: string, rules: RbacRule[], o: { serviceAccountName?: string; clusterAdmin?: boolean; clusterAdminBinding?: string }): RbacObject[] {
  const labels = { "app.kubernetes.io/part-of": "mooring", "app.kubernetes.io/component": controller };
  const sa = o.serviceAccountName ?? controller;
  const clusterRole = `mooring-${controller}`;
  const subjects = [{ kind: "ServiceAccount", name: sa, namespace }];
  const objs: RbacObject[] = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa, namespace, labels } },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: clusterRole, labels }, rules },
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
      metadata: { name: `${controller}-leader-election`, namespace, labels },
      rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${controller}-leader-election`, namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${controller}-leader-election` },
      subjects,
    },
  ];
  if (o.clusterAdmin !== false && o.clusterAdminBinding) {
    objs.push({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${o.clusterAdminBinding}-${namespace}`, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects,
    });
  }
  return objs;
}
