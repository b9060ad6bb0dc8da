// The helm-controller's identity and RBAC: its own CRD (+status, +finalizers), the chart sources (HelmCharts it
// creates from spec.chart templates, OCIRepositories read-only), Kustomizations read (dependsOn),
// Secrets/ConfigMaps read (valuesFrom), ServiceAccount impersonation, Events, Leases in its own namespace.
// Installing arbitrary charts is granted by the cluster-admin binding Flux's install calls "cluster-reconciler".
import { SourceGroup } from "./source";
import { KustomizeGroup } from "./kustomize";
import { HelmGroup } from "./helm";
import { reconcilerRbac, type RbacObject, type RbacRule } from "./rbac";

export const HelmControllerName = "helm-controller";

const helmPlurals = ["helmreleases"];

/** The ClusterRole rules the controller itself needs (without the cluster-admin binding). */
export function helmControllerRules(): RbacRule[] {
  return [
    { apiGroups: [HelmGroup], resources: helmPlurals, verbs: ["get", "list", "watch", "update", "patch"] },
    { apiGroups: [HelmGroup], resources: helmPlurals.map((p) => `${p}/status`), verbs: ["get", "update", "patch"] },
    { apiGroups: [HelmGroup], resources: helmPlurals.map((p) => `${p}/finalizers`), verbs: ["get", "create", "update", "patch", "delete"] },
    { apiGroups: [SourceGroup], resources: ["helmcharts"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
    { apiGroups: [SourceGroup], resources: ["ocirepositories", "helmrepositories", "gitrepositories", "buckets"], verbs: ["get", "list", "watch"] },
    { apiGroups: [SourceGroup], resources: ["helmcharts/status", "ocirepositories/status"], verbs: ["get"] },
    { apiGroups: [KustomizeGroup], resources: ["kustomizations"], verbs: ["get", "list", "watch"] },
    { apiGroups: [""], resources: ["secrets", "configmaps"], verbs: ["get", "list", "watch"] },
    { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["impersonate"] },
    { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
  ];
}

export interface HelmRbacOptions {
  serviceAccountName?: string;
  /** Bind the ServiceAccount to cluster-admin so it can install any chart (Flux's "cluster-reconciler"). Default true. */
  clusterAdmin?: boolean;
}

export function helmControllerRbac(namespace: string, o: HelmRbacOptions = {}): RbacObject[] {
  return reconcilerRbac(HelmControllerName, namespace, helmControllerRules(), { ...o, clusterAdminBinding: "mooring-helm-cluster-reconciler" });
}
