// Install manifests (gotk-components.yaml): namespace, CRDs, identities, RBAC, workloads and network
// policies of the controllers. Pure: the same inputs render the same bytes.
import { BootstrapError } from "../errors";
import type { KubeObject, ManifestInput } from "./objects";
import { toYamlStream } from "./objects";
import {
  allControllers,
  defaultControllers,
  controllerDeploymentName,
  type ControllerName,
  type ImageRef,
  type InstallInputs,
  type InstallOptions,
  type ResourceSettings,
} from "./options";

export const defaultNamespace = "flux-system";
export const defaultImageRegistry = "ghcr.io/mooring";
export const defaultImageName = "controllers";

/** Ports every controller listens on, as Flux's controllers do. */
export const ports = { storage: 9090, metrics: 8080, health: 9440, events: 9090, webhook: 9292 } as const;

const defaultResources: Record<ControllerName, ResourceSettings> = {
  source: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "1000m", memory: "1Gi" } },
  kustomize: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "1000m", memory: "1Gi" } },
  helm: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "1000m", memory: "1Gi" } },
  notification: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "1000m", memory: "1Gi" } },
  "image-reflector": { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "1000m", memory: "1Gi" } },
  "image-automation": { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "1000m", memory: "1Gi" } },
  "source-watcher": { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "1000m", memory: "1Gi" } },
};

/** The uid and gid the controllers run as: nobody, as in the image. */
export const controllerUid = 65534;

// Flux gives kustomize-controller and helm-controller more time to finish an apply or a release on shutdown.
const terminationGraceSeconds: Record<ControllerName, number> = { source: 10, kustomize: 60, helm: 600, notification: 10, "source-watcher": 10, "image-reflector": 10, "image-automation": 10 };

// Which controller serves an API group: the CRD gets that controller's component label.
const groupComponent: Record<string, ControllerName> = {
  "source.toolkit.fluxcd.io": "source",
  "kustomize.toolkit.fluxcd.io": "kustomize",
  "helm.toolkit.fluxcd.io": "helm",
  "notification.toolkit.fluxcd.io": "notification",
  "image.toolkit.fluxcd.io": "image-reflector",
  "source.extensions.fluxcd.io": "source-watcher",
};

const namespacedRbacKinds = new Set(["Role", "RoleBinding", "ServiceAccount"]);

interface Resolved {
  namespace: string;
  version: string;
  controllers: readonly ControllerName[];
  image: string;
  options: InstallOptions;
}

/** `<repository>:<tag>` or `<repository>@<digest>`; the repository is `<registry>/<name>` unless given whole. */
export function imageReference(image: ImageRef | undefined, version: string): string {
  const registry = (image?.registry ?? defaultImageRegistry).replace(/\/+$/, "");
  const repository = image?.repository?.replace(/\/+$/, "") || `${registry}/${image?.name ?? defaultImageName}`;
  if (image?.digest) return `${repository}@${image.digest}`;
  return `${repository}:${image?.tag ?? versionLabel(version)}`;
}

function versionLabel(version: string): string {
  return version.startsWith("v") ? version : `v${version}`;
}

function resolve(options: InstallOptions): Resolved {
  if (!options.version) throw new BootstrapError("InvalidInput", "install: version is required (for example \"0.1.0\")");
  const namespace = options.namespace ?? defaultNamespace;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
    throw new BootstrapError("InvalidInput", `install: namespace "${namespace}" is not a valid DNS-1123 label`);
  }
  const controllers = allControllers.filter((c) => (options.controllers ?? defaultControllers).includes(c));
  for (const c of options.controllers ?? []) {
    if (!allControllers.includes(c)) {
      throw new BootstrapError("InvalidInput", `install: unknown controller "${c}" (known: ${allControllers.join(", ")})`);
    }
  }
  for (const [c, n] of Object.entries(options.replicas ?? {})) {
    if (!allControllers.includes(c as ControllerName)) {
      throw new BootstrapError("InvalidInput", `install: replicas: unknown controller "${c}" (known: ${allControllers.join(", ")})`);
    }
    if (n === undefined) continue;
    if (!Number.isInteger(n) || n < 0) throw new BootstrapError("InvalidInput", `install: replicas.${c} must be a whole number of at least 0, got ${n}`);
    if (c === "source" && n > 1) {
      throw new BootstrapError("InvalidInput", `install: replicas.source is ${n}, but source-controller serves artifacts from its own storage: run 1 replica (more kustomize-controller replicas are fine)`);
    }
  }
  const image = options.image;
  if (image?.repository !== undefined && (image.registry !== undefined || image.name !== undefined)) {
    throw new BootstrapError("InvalidInput", "install: image: give either repository or registry and name, not both");
  }
  return { namespace, version: options.version, controllers, image: imageReference(image, options.version), options };
}

function commonLabels(r: Resolved): Record<string, string> {
  return {
    "app.kubernetes.io/instance": r.namespace,
    "app.kubernetes.io/part-of": "flux",
    "app.kubernetes.io/version": versionLabel(r.version),
  };
}

function componentLabels(r: Resolved, controller: ControllerName): Record<string, string> {
  return { ...commonLabels(r), "app.kubernetes.io/component": controllerDeploymentName(controller) };
}

function withLabels(object: KubeObject, labels: Record<string, string>): KubeObject {
  return { ...object, metadata: { ...object.metadata, labels: { ...object.metadata.labels, ...labels } } };
}

function namespaceObject(r: Resolved): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: r.namespace,
      labels: {
        ...commonLabels(r),
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
      },
    },
  };
}

function networkPolicies(r: Resolved): KubeObject[] {
  const meta = (name: string) => ({ name, namespace: r.namespace, labels: commonLabels(r) });
  return [
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-egress"),
      spec: { egress: [{}], ingress: [{ from: [{ podSelector: {} }] }], podSelector: {}, policyTypes: ["Ingress", "Egress"] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-scraping"),
      spec: {
        ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: ports.metrics, protocol: "TCP" }] }],
        podSelector: {},
        policyTypes: ["Ingress"],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-webhooks"),
      spec: {
        ingress: [{ from: [{ namespaceSelector: {} }] }],
        podSelector: { matchLabels: { app: "notification-controller" } },
        policyTypes: ["Ingress"],
      },
    },
  ];
}

function crdObjects(r: Resolved, crds: readonly ManifestInput[]): KubeObject[] {
  return crds
    .map((crd) => ({ ...crd }) as KubeObject)
    .sort((a, b) => compare(a.metadata.name, b.metadata.name))
    .map((crd) => {
      const spec = crd.spec as { group?: unknown } | undefined;
      const owner = typeof spec?.group === "string" ? groupComponent[spec.group] : undefined;
      return withLabels(crd, owner ? componentLabels(r, owner) : commonLabels(r));
    });
}

function serviceAccount(r: Resolved, controller: ControllerName): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: controllerDeploymentName(controller), namespace: r.namespace, labels: componentLabels(r, controller) },
  };
}

// Input RBAC is written without knowing the install namespace: place it there.
function placeRbac(r: Resolved, input: ManifestInput): KubeObject {
  const object = { ...input } as KubeObject;
  const metadata = namespacedRbacKinds.has(object.kind) ? { ...object.metadata, namespace: object.metadata.namespace ?? r.namespace } : object.metadata;
  const subjects = object.subjects;
  const placed: KubeObject = { ...object, metadata };
  if (Array.isArray(subjects)) {
    placed.subjects = subjects.map((s: unknown) => {
      const subject = s as { kind?: string; namespace?: string };
      return subject.kind === "ServiceAccount" && subject.namespace === undefined ? { ...subject, namespace: r.namespace } : subject;
    });
  }
  return placed;
}

function identity(o: KubeObject): string {
  return `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

function rbacObjects(r: Resolved, rbac: InstallInputs["rbac"]): KubeObject[] {
  const seen = new Map<string, string>();
  const out: KubeObject[] = [];
  for (const controller of r.controllers) {
    for (const input of rbac[controller] ?? []) {
      // The renderer owns the controller's ServiceAccount; an input copy of it is not rendered twice.
      if (input.kind === "ServiceAccount" && input.metadata.name === controllerDeploymentName(controller)) continue;
      const object = withLabels(placeRbac(r, input), componentLabels(r, controller));
      const id = identity(object);
      const body = JSON.stringify({ ...object, metadata: { ...object.metadata, labels: undefined } });
      const previous = seen.get(id);
      if (previous === undefined) {
        seen.set(id, body);
        out.push(object);
      } else if (previous !== body) {
        throw new BootstrapError("InvalidInput", `install: RBAC object ${id} is given twice with different content`);
      }
    }
  }
  const reconcilers = r.controllers.filter((c) => c === "kustomize" || c === "helm");
  if (reconcilers.length) out.push(clusterReconcilerBinding(r, reconcilers));
  return out;
}

/** Flux's cluster-wide reconciler: kustomize-controller and helm-controller apply anything the repository holds. */
function clusterReconcilerBinding(r: Resolved, controllers: ControllerName[]): KubeObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: `cluster-reconciler-${r.namespace}`, labels: commonLabels(r) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
    subjects: controllers.map((c) => ({ kind: "ServiceAccount", name: controllerDeploymentName(c), namespace: r.namespace })),
  };
}

function sourceService(r: Resolved, controller: "source" | "source-watcher" = "source"): KubeObject {
  const name = controllerDeploymentName(controller);
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: r.namespace, labels: { ...componentLabels(r, controller), "control-plane": "controller" } },
    spec: {
      ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }],
      selector: { app: name },
      type: "ClusterIP",
    },
  };
}

/** Flux's notification Services: events in on notification-controller, webhooks in on webhook-receiver. */
function notificationServices(r: Resolved): KubeObject[] {
  const name = controllerDeploymentName("notification");
  const service = (serviceName: string, targetPort: string): KubeObject => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: serviceName, namespace: r.namespace, labels: { ...componentLabels(r, "notification"), "control-plane": "controller" } },
    spec: { ports: [{ name: "http", port: 80, protocol: "TCP", targetPort }], selector: { app: name }, type: "ClusterIP" },
  });
  return [service(name, "http"), service("webhook-receiver", "http-webhook")];
}

/** Container args for a controller, in the `--flag=value` form our controllers entry parses. */
export function controllerArgs(
  controller: ControllerName,
  r: { clusterDomain?: string; logLevel?: string; extraArgs?: readonly string[]; eventsTo?: string },
): string[] {
  const args = [
    `--controllers=${controller}`,
    "--watch-all-namespaces=true",
    `--log-level=${r.logLevel ?? "info"}`,
    "--log-encoding=json",
    "--enable-leader-election",
    `--metrics-addr=:${ports.metrics}`,
    `--health-addr=:${ports.health}`,
  ];
  if (controller === "source" || controller === "source-watcher") {
    const domain = r.clusterDomain ?? "cluster.local";
    args.push(
      "--storage-path=/data",
      `--storage-addr=:${ports.storage}`,
      `--storage-adv-addr=${controllerDeploymentName(controller)}.$(RUNTIME_NAMESPACE).svc.${domain}.`,
    );
  }
  if (controller === "image-reflector") args.push("--storage-path=/data");
  if (controller === "notification") args.push(`--events-addr=:${ports.events}`, `--receiverAddr=:${ports.webhook}`);
  else if (r.eventsTo) args.push(`--events-addr=${r.eventsTo}`);
  return [...args, ...(r.extraArgs ?? [])];
}

function deployment(r: Resolved, controller: ControllerName): KubeObject {
  const name = controllerDeploymentName(controller);
  const o = r.options;
  const containerPorts = [
    ...(controller === "source" || controller === "source-watcher" ? [{ containerPort: ports.storage, name: "http", protocol: "TCP" }] : []),
    ...(controller === "notification"
      ? [
          { containerPort: ports.events, name: "http", protocol: "TCP" },
          { containerPort: ports.webhook, name: "http-webhook", protocol: "TCP" },
        ]
      : []),
    { containerPort: ports.metrics, name: "http-prom", protocol: "TCP" },
    { containerPort: ports.health, name: "healthz", protocol: "TCP" },
  ];
  const storing = controller === "source" || controller === "source-watcher" || controller === "image-reflector";
  const volumes = [...(storing ? [{ name: "data", emptyDir: {} }] : []), { name: "temp", emptyDir: {} }];
  const mounts = [...(storing ? [{ name: "data", mountPath: "/data" }] : []), { name: "temp", mountPath: "/tmp" }];
  const container = {
    name: "manager",
    image: r.image,
    imagePullPolicy: o.imagePullPolicy ?? "IfNotPresent",
    args: controllerArgs(controller, {
      clusterDomain: o.clusterDomain,
      logLevel: o.logLevel,
      extraArgs: o.extraArgs?.[controller],
      // As Flux: every controller posts its events to the notification-controller's Service, when it is installed.
      eventsTo: r.controllers.includes("notification") ? `http://${controllerDeploymentName("notification")}.${r.namespace}.svc.${o.clusterDomain ?? "cluster.local"}./` : undefined,
    }),
    env: [
      { name: "RUNTIME_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      // The root filesystem is read-only: git and node write their state under the /tmp emptyDir.
      { name: "HOME", value: "/tmp" },
    ],
    ports: containerPorts,
    livenessProbe: { httpGet: { path: "/healthz", port: "healthz" } },
    readinessProbe: { httpGet: { path: "/readyz", port: "healthz" } },
    resources: o.resources?.[controller] ?? defaultResources[controller],
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      // The image's user (nobody); numeric, so the kubelet can check runAsNonRoot whatever the image says.
      runAsUser: controllerUid,
      runAsGroup: controllerUid,
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: mounts,
  };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: r.namespace, labels: { ...componentLabels(r, controller), "control-plane": "controller" } },
    spec: {
      replicas: o.replicas?.[controller] ?? 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: {
          annotations: { "prometheus.io/port": String(ports.metrics), "prometheus.io/scrape": "true" },
          labels: { app: name },
        },
        spec: {
          containers: [container],
          imagePullSecrets: o.imagePullSecrets?.map((s) => ({ name: s })),
          nodeSelector: { "kubernetes.io/os": "linux" },
          securityContext: { fsGroup: 1337 },
          serviceAccountName: name,
          terminationGracePeriodSeconds: terminationGraceSeconds[controller],
          volumes,
        },
      },
    },
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every install object, in apply order: namespace, CRDs, identities, RBAC, services, workloads, policies. */
export function renderInstall(inputs: InstallInputs, options: InstallOptions): KubeObject[] {
  const r = resolve(options);
  return [
    namespaceObject(r),
    ...crdObjects(r, inputs.crds),
    ...r.controllers.map((c) => serviceAccount(r, c)),
    ...rbacObjects(r, inputs.rbac),
    ...(r.controllers.includes("source") ? [sourceService(r)] : []),
    ...(r.controllers.includes("source-watcher") ? [sourceService(r, "source-watcher")] : []),
    ...(r.controllers.includes("notification") ? notificationServices(r) : []),
    ...r.controllers.map((c) => deployment(r, c)),
    ...(r.options.networkPolicy === false ? [] : networkPolicies(r)),
  ];
}

/** The install as Flux's `gotk-components.yaml`: a multi-document YAML stream. */
export function renderInstallYaml(inputs: InstallInputs, options: InstallOptions): string {
  return `# Generated by Mooring ${versionLabel(options.version)}; Flux-compatible install manifests.\n${toYamlStream(renderInstall(inputs, options))}`;
}
