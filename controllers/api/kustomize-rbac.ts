// The kustomize-controller's identity and RBAC: its own CRDs (+status, +finalizers), sources read-only,
// Secrets/ConfigMaps read (postBuild.substituteFrom), ServiceAccount impersonation, Events, Leases in its
// own namespace. Applying arbitrary objects is granted by a binding to cluster-admin, as Flux's install does.
import { SourceGroup } from "./source";
import { KustomizeGroup } from "./kustomize";
import { reconcilerRbac, type RbacObject, type RbacRule } from "./rbac";

export const KustomizeControllerName = "kustomize-controller";

const kustomizePlurals = ["kustomizations"];
const sourcePlurals = ["gitrepositories", "ocirepositories", "buckets"];

/** The ClusterRole rules the controller itself needs (without the cluster-admin binding). */
export function kustomizeControllerRules(): RbacRule[] {
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
  return reconcilerRbac(KustomizeControllerName, namespace, kustomizeControllerRules(), { ...o, clusterAdminBinding: "mooring-cluster-reconciler" });
}
