// The MTTP workload: N app directories, each with 4 objects (Deployment with 0 replicas, ServiceAccount,
// headless Service, Ingress) in its own namespace, and one Kustomization per app. Pure: no I/O.
import { stringify } from "yaml";

export const sourceNamespace = "flux-system";
export const sourceName = "bench";
export const managedByLabel = "bench.mooring.dev/app";
/** The labels Flux's kustomize-controller (and Mooring's) put on what it applies; the floor sets them too. */
export const ownerLabels = (app: string) => ({ "kustomize.toolkit.fluxcd.io/name": app, "kustomize.toolkit.fluxcd.io/namespace": sourceNamespace });

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export const appPrefix = "app-";

/** "app-0001" … : zero-padded so the repository lists in order. */
export function appName(i: number): string {
  if (!Number.isInteger(i) || i < 1) throw new RangeError(`app index must be a positive integer, got ${i}`);
  return `${appPrefix}${String(i).padStart(4, "0")}`;
}

export function appNamespace(i: number): Manifest {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: appName(i), labels: { [managedByLabel]: appName(i) } } };
}

/** The 4 objects of app i, keyed by file name. The Service is headless: the local service CIDR is a /24. */
export function appObjects(i: number): Record<string, Manifest> {
  const name = appName(i);
  const meta = { name: "app", namespace: name, labels: { [managedByLabel]: name } };
  const selector = { "app.kubernetes.io/name": name };
  return {
    "deployment.yaml": {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta,
      spec: {
        replicas: 0,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: selector },
          spec: { serviceAccountName: "app", containers: [{ name: "app", image: "registry.invalid/app:1.0.0", ports: [{ containerPort: 8080 }] }] },
        },
      },
    },
    "serviceaccount.yaml": { apiVersion: "v1", kind: "ServiceAccount", metadata: meta },
    "service.yaml": {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta,
      spec: { clusterIP: "None", selector, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    },
    "ingress.yaml": {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: meta,
      spec: {
        rules: [
          {
            host: `${name}.bench.invalid`,
            http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "app", port: { number: 80 } } } }] },
          },
        ],
      },
    },
  };
}

export const objectsPerApp = 4;

/** Repository content: apps/<app>/<file>.yaml for apps 1..n (no kustomization.yaml: the controllers generate one). */
export function repositoryFiles(n: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 1; i <= n; i++) {
    for (const [file, obj] of Object.entries(appObjects(i))) files[`apps/${appName(i)}/${file}`] = stringify(obj, { aliasDuplicateObjects: false });
  }
  return files;
}

export interface KustomizationOptions {
  /** spec.interval, e.g. "10m". */
  interval: string;
}

export function kustomization(i: number, o: KustomizationOptions): Manifest {
  const name = appName(i);
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace: sourceNamespace, labels: { [managedByLabel]: name } },
    spec: {
      interval: o.interval,
      path: `./apps/${name}`,
      prune: true,
      sourceRef: { kind: "GitRepository", name: sourceName },
    },
  };
}

export function gitRepository(url: string, secretName: string, interval: string): Manifest {
  return {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name: sourceName, namespace: sourceNamespace },
    spec: { url, interval, ref: { branch: "main" }, secretRef: { name: secretName }, timeout: "60s" },
  };
}

/** What the floor applies for app i: the repository's objects with the labels a controller would add. */
export function floorObjects(i: number): Manifest[] {
  return Object.values(appObjects(i)).map((o) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...ownerLabels(appName(i)) } } }));
}
