// Inputs of the install renderer: what a user may choose, with Flux's defaults.
import type { ManifestInput } from "./objects";

/** The controllers the install can run. Each is one Deployment and one ServiceAccount of the same name. */
export type ControllerName = "source" | "kustomize" | "helm" | "notification" | "source-watcher" | "image-reflector" | "image-automation";

/** The controllers installed unless asked otherwise: Flux's default components. */
export const defaultControllers: readonly ControllerName[] = ["source", "kustomize", "helm", "notification"];

/** Components installed only when asked for, as in Flux: source-watcher and the image automation controllers. */
export const optionalControllers: readonly ControllerName[] = ["source-watcher", "image-reflector", "image-automation"];

/** Every controller the install can render: the default ones, then the optional ones. */
export const allControllers: readonly ControllerName[] = [...defaultControllers, ...optionalControllers];

/** The Deployment / ServiceAccount name of a controller, as Flux names them (`source-watcher` has no suffix). */
export function controllerDeploymentName(controller: ControllerName): string {
  return controller === "source-watcher" ? controller : `${controller}-controller`;
}

/** Where the controllers image comes from. The reference is `<repository>:<tag>`, `<repository>` being `<registry>/<name>`. */
export interface ImageRef {
  /** The whole repository, e.g. `registry.local:5000/mooring/controllers`; wins over registry and name. */
  repository?: string;
  /** Registry host and path prefix. Default `ghcr.io/mooring`. */
  registry?: string;
  /** Repository name under the registry. Default `controllers`. */
  name?: string;
  /** Tag. Default `v<version>`. */
  tag?: string;
  /** Pin by digest (`sha256:…`); when set the reference is `<registry>/<name>@<digest>`. */
  digest?: string;
}

/** Container resources as Kubernetes quantities. */
export interface ResourceSettings {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

/**
 * What other modules own and the renderer only places: the CRD manifests and each controller's
 * least-privilege RBAC (both from controllers/api). Namespaced RBAC objects without a namespace, and
 * ServiceAccount subjects without one, are put in the install namespace.
 */
export interface InstallInputs {
  /** CustomResourceDefinitions of the APIs the controllers serve. */
  crds: readonly ManifestInput[];
  /** Roles, ClusterRoles and their bindings, per controller. */
  rbac: Partial<Record<ControllerName, readonly ManifestInput[]>>;
}

export interface InstallOptions {
  /** Mooring version; labels `app.kubernetes.io/version: v<version>` and the default image tag. Example `0.1.0`. */
  version: string;
  /** Install namespace. Default `flux-system`. */
  namespace?: string;
  /** Controllers to install. Default all: `source`, `kustomize`, `notification`. */
  controllers?: readonly ControllerName[];
  /** Controllers image. Default `ghcr.io/mooring/controllers:v<version>`. */
  image?: ImageRef;
  /** Image pull policy. Default `IfNotPresent`. */
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** Names of image pull Secrets in the install namespace. Default none. */
  imagePullSecrets?: readonly string[];
  /** Cluster DNS domain used in the advertised storage address. Default `cluster.local`. */
  clusterDomain?: string;
  /** Controller log level. Default `info`. */
  logLevel?: "debug" | "info" | "error";
  /** Render Flux's NetworkPolicies (allow-egress, allow-scraping, allow-webhooks). Default true. */
  networkPolicy?: boolean;
  /** Per-controller resources. Default Flux's: requests 50m/64Mi (source), 100m/64Mi (kustomize, notification), limits 1000m/1Gi. */
  resources?: Partial<Record<ControllerName, ResourceSettings>>;
  /**
   * Replicas per controller. Default 1. kustomize-controller may run more: they elect a leader
   * (a Lease) and the others wait to take over. source-controller serves artifacts from its own
   * storage, so it runs exactly one.
   */
  replicas?: Partial<Record<ControllerName, number>>;
  /** Extra container args per controller, appended after the rendered ones (any `mooring controllers` flag). */
  extraArgs?: Partial<Record<ControllerName, readonly string[]>>;
}
