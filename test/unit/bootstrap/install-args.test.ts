// Every container the install renders starts with args the controllers' own parser accepts, and they
// mean what the install intends: the ports the Pod exposes, probes, Service and artifact URLs line up.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderInstall, controllerUid } from "../../../bootstrap/manifests/install";
import { allControllers, controllerDeploymentName, defaultControllers, type ControllerName, type InstallOptions } from "../../../bootstrap/manifests/options";
import type { KubeObject } from "../../../bootstrap/manifests/objects";
import { parseControllersArgs } from "../../../controllers/flags";
import type { ControllersOptions } from "../../../controllers/main";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  args: string[];
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  volumeMounts: { name: string; mountPath: string }[];
  securityContext: { runAsUser?: number };
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: { containers: Container[]; volumes: { name: string; emptyDir?: object }[] };
}

const inputs = { crds: [], rbac: {} };

/** The option sets users give; every one must render args the parser accepts. */
const optionSets: [string, InstallOptions][] = [
  ["defaults", { version: "0.1.0" }],
  ["another namespace, cluster domain and log level", { version: "1.2.3", namespace: "gitops", clusterDomain: "k8s.internal", logLevel: "debug" }],
  ["error logs, no network policies, an image by repository", { version: "0.2.0", logLevel: "error", networkPolicy: false, image: { repository: "127.0.0.1:5000/mooring/controllers", tag: "dev" } }],
  ["source only", { version: "0.1.0", controllers: ["source"] }],
  ["with the source-watcher", { version: "0.1.0", controllers: ["source", "kustomize", "source-watcher"] }],
  ["two kustomize-controllers", { version: "0.1.0", replicas: { kustomize: 2 } }],
  [
    "extra args",
    {
      version: "0.1.0",
      extraArgs: {
        source: ["--concurrent=8", "--artifact-retention-records=4"],
        kustomize: ["--concurrent=20", "--no-remote-bases", "--feature-gates=DriftWatch=false", "--watch-label-selector=!sharding.fluxcd.io/key"],
      },
    },
  ],
];

/** The kubelet's `$(VAR)` expansion of container args from the container's env (fieldRefs resolved). */
function kubeletArgs(c: Container, pod: { namespace: string }): string[] {
  const env = new Map<string, string>();
  for (const e of c.env) {
    if (e.value !== undefined) env.set(e.name, e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env.set(e.name, pod.namespace);
  }
  return c.args.map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env.get(name) ?? whole));
}

function parseContainer(c: Container, namespace: string): ControllersOptions {
  // No environment: whatever the args need must come from the Pod itself.
  const r = parseControllersArgs(kubeletArgs(c, { namespace }), {});
  assert.equal(r.help, false);
  return (r as { options: ControllersOptions }).options;
}

const portOf = (addr: string) => Number(addr.slice(addr.lastIndexOf(":") + 1));

function deployments(objects: KubeObject[]): { controller: ControllerName; d: KubeObject; pod: PodTemplate; c: Container }[] {
  return objects
    .filter((o) => o.kind === "Deployment")
    .map((d) => {
      const controller = allControllers.find((c) => controllerDeploymentName(c) === d.metadata.name)!;
      const pod = (d.spec as { template: PodTemplate }).template;
      assert.equal(pod.spec.containers.length, 1);
      return { controller, d, pod, c: pod.spec.containers[0]! };
    });
}

describe("the install's container args, through the controllers' parser", () => {
  for (const [title, options] of optionSets) {
    it(`are accepted and mean what the install intends: ${title}`, () => {
      const objects = renderInstall(inputs, options);
      const namespace = options.namespace ?? "flux-system";
      const rendered = deployments(objects);
      assert.deepEqual(rendered.map((r) => r.controller), options.controllers ?? defaultControllers);
      for (const { controller, d, pod, c } of rendered) {
        const o = parseContainer(c, namespace);
        const port = (name: string) => c.ports.find((p) => p.name === name)?.containerPort;
        assert.deepEqual(o.controllers, [controller], "one controller per Deployment");
        assert.equal(c.name, "manager", "flux logs picks the container named manager in multi-container pods");
        assert.equal(o.watchAllNamespaces, true);
        assert.equal(o.watchNamespace, undefined);
        assert.equal(o.leaderElect, true, "every replica elects a leader");
        assert.equal(o.logEncoding, "json", "the JSON lines flux logs reads");
        assert.equal(o.logLevel, options.logLevel ?? "info");
        assert.equal(portOf(o.metricsAddr!), port("http-prom"));
        assert.equal(pod.metadata.annotations["prometheus.io/port"], String(port("http-prom")));
        assert.equal(portOf(o.healthAddr!), port("healthz"));
        assert.deepEqual([c.livenessProbe.httpGet, c.readinessProbe.httpGet], [{ path: "/healthz", port: "healthz" }, { path: "/readyz", port: "healthz" }]);
        assert.equal(c.securityContext.runAsUser, controllerUid);
        // flux logs lists Deployments labelled part-of=flux, then their Pods by the template's labels.
        assert.equal(d.metadata.labels?.["app.kubernetes.io/part-of"], "flux");
        assert.deepEqual((d.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, pod.metadata.labels);
        assert.equal(o.kubeconfigPath, undefined, "in a Pod the ServiceAccount is the identity");
        if (controller === "source" || controller === "source-watcher") {
          const data = c.volumeMounts.find((m) => m.mountPath === o.storagePath);
          assert.ok(data, "the storage path is a mounted volume");
          assert.ok(pod.spec.volumes.find((v) => v.name === data.name)?.emptyDir, "an emptyDir (the root filesystem is read-only)");
          assert.equal(portOf(o.storageAddr!), port("http"));
        } else {
          assert.equal(o.storagePath, undefined);
          assert.equal(o.storageAdvAddr, undefined);
        }
        assert.ok(c.volumeMounts.some((m) => m.mountPath === "/tmp"));
        for (const extra of options.extraArgs?.[controller] ?? []) assert.ok(c.args.includes(extra));
      }
    });
  }

  it("advertises artifact URLs that reach source-controller through its Service's DNS name", () => {
    for (const [, options] of optionSets.filter(([, o]) => (o.controllers ?? allControllers).includes("source"))) {
      const objects = renderInstall(inputs, options);
      const namespace = options.namespace ?? "flux-system";
      const { c, pod } = deployments(objects).find((r) => r.controller === "source")!;
      const o = parseContainer(c, namespace);
      // The URL the storage writes: http://<advertised address>/<path>.
      const url = new URL(`http://${o.storageAdvAddr}/gitrepository/flux-system/flux-system/abc.tar.gz`);
      const svc = objects.find((x) => x.kind === "Service" && x.metadata.name === "source-controller")!;
      assert.equal(url.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc.${options.clusterDomain ?? "cluster.local"}.`);
      const spec = svc.spec as { ports: { port: number; targetPort: string }[]; selector: Record<string, string> };
      const servicePort = spec.ports.find((p) => p.port === Number(url.port || 80));
      assert.ok(servicePort, `the Service listens on the URL's port ${url.port || 80}`);
      const target = c.ports.find((p) => p.name === servicePort.targetPort);
      assert.equal(target?.containerPort, portOf(o.storageAddr!), "the Service forwards to the port the artifact server binds");
      for (const [k, v] of Object.entries(spec.selector)) assert.equal(pod.metadata.labels[k], v, "the Service selects the source-controller Pods");
    }
  });

  it("leaves $(RUNTIME_NAMESPACE) for the kubelet, which resolves it from the Pod's own env", () => {
    const { c } = deployments(renderInstall(inputs, { version: "0.1.0" })).find((r) => r.controller === "source")!;
    assert.ok(c.args.some((a) => a.includes("$(RUNTIME_NAMESPACE)")));
    assert.deepEqual(c.env.find((e) => e.name === "RUNTIME_NAMESPACE")?.valueFrom, { fieldRef: { fieldPath: "metadata.namespace" } });
  });

  it("extra args take effect and a bad one would be refused by the controller", () => {
    const objects = renderInstall(inputs, optionSets.find(([t]) => t === "extra args")![1]);
    const kustomize = deployments(objects).find((r) => r.controller === "kustomize")!;
    const o = parseContainer(kustomize.c, "flux-system");
    assert.equal(o.concurrent, 20);
    assert.equal(o.noRemoteBases, true);
    assert.equal(o.driftWatch, false);
    assert.equal(o.watchLabelSelector, "!sharding.fluxcd.io/key");
    const source = parseContainer(deployments(objects).find((r) => r.controller === "source")!.c, "flux-system");
    assert.equal(source.concurrent, 8);
    assert.equal(source.artifactRetentionRecords, 4);
    const bad = renderInstall(inputs, { version: "0.1.0", extraArgs: { kustomize: ["--no-such-flag"] } });
    assert.throws(() => parseContainer(deployments(bad).find((r) => r.controller === "kustomize")!.c, "flux-system"), /unknown flag: --no-such-flag/);
  });
});
