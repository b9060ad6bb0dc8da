// The image controllers' identities and least-privilege RBAC. image-reflector-controller: its own kinds
// (ImageRepository, ImagePolicy status and finalizers), Secrets read-only (registry credentials and CAs),
// Namespaces read-only (ImageRepository accessFrom), Events. image-automation-controller: ImageUpdateAutomation
// status and finalizers, ImagePolicies and GitRepositories read-only, Secrets read-only (git credentials and
// signing keys), Events. Both take Leases in their own namespace for leader election.
import { ImageGroup } from "./image";
import { SourceGroup } from "./source";
import { reconcilerRbac, type RbacObject, type RbacRule } from "./rbac";

export const ImageReflectorControllerName = "image-reflector-controller";
export const ImageAutomationControllerName = "image-automation-controller";

const events: RbacRule = { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] };
const secretsRead: RbacRule = { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] };

export function imageReflectorControllerRbac(namespace: string, serviceAccountName = ImageReflectorControllerName): RbacObject[] {
  return reconcilerRbac(
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
    { serviceAccountName, clusterAdmin: false },
  );
}

export function imageAutomationControllerRbac(namespace: string, serviceAccountName = ImageAutomationControllerName): RbacObject[] {
  return reconcilerRbac(
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
    { serviceAccountName, clusterAdmin: false },
  );
}
