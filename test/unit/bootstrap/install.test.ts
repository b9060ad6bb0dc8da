import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { renderInstall, renderInstallYaml, imageReference, controllerArgs } from "../../../bootstrap/manifests/install";
import type { InstallInputs } from "../../../bootstrap/manifests/options";
import type { KubeObject } from "../../../bootstrap/manifests/objects";
import { isBootstrapError } from "../../../bootstrap/errors";

const crd = (group: string, plural: string, kind: string): KubeObject => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `${plural}.${group}` },
  spec: { group, names: { kind, plural }, scope: "Namespaced", versions: [] },
});

const list = (...o: KubeObject[]): KubeObject[] => o;

const inputs: InstallInputs = {
  crds: [crd("kustomize.toolkit.fluxcd.io", "kustomizations", "Kustomization"), crd("source.toolkit.fluxcd.io", "gitrepositories", "GitRepository")],
  rbac: {
    source: list(
      // controllers/api includes the ServiceAccount in a controller's RBAC; the renderer must not repeat it.
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "source-controller", namespace: "flux-system" } },
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "source-controller" }, rules: [{ apiGroups: ["source.toolkit.fluxcd.io"], resources: ["*"], verbs: ["*"] }] },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "source-controller" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "source-controller" },
        subjects: [{ kind: "ServiceAccount", name: "source-controller" }],
      },
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "leader-election" }, rules: [] },
    ),
    kustomize: list({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "kustomize-leader-election" }, rules: [] }),
  },
};

const find = (objects: KubeObject[], kind: string, name: string): KubeObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} rendered`);
  return o;
};

type Container = {
  args: string[];
  image: string;
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { port: string; path: string } };
  readinessProbe: { httpGet: { port: string; path: string } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  volumeMounts: { name: string; mountPath: string }[];
  ports: { name: string; containerPort: number }[];
};
const podSpec = (d: KubeObject) => (d.spec as { template: { spec: { containers: Container[]; serviceAccountName: string; volumes: { name: string; emptyDir?: object }[] } } }).template.spec;

describe("renderInstall", () => {
  const objects = renderInstall(inputs, { version: "0.1.0" });

  it("renders the flux-system namespace with Flux's labels", () => {
    const ns = find(objects, "Namespace", "flux-system");
    assert.deepEqual(ns.metadata.labels, {
      "app.kubernetes.io/instance": "flux-system",
      "app.kubernetes.io/part-of": "flux",
      "app.kubernetes.io/version": "v0.1.0",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/warn-version": "latest",
    });
    assert.equal(objects[0], ns, "namespace comes first");
  });

  it("places the input CRDs, labelled with the controller that serves their group", () => {
    const git = find(objects, "CustomResourceDefinition", "gitrepositories.source.toolkit.fluxcd.io");
    assert.equal(git.metadata.labels?.["app.kubernetes.io/component"], "source-controller");
    const ks = find(objects, "CustomResourceDefinition", "kustomizations.kustomize.toolkit.fluxcd.io");
    assert.equal(ks.metadata.labels?.["app.kubernetes.io/component"], "kustomize-controller");
    const kinds = objects.map((o) => o.kind);
    assert.ok(kinds.lastIndexOf("CustomResourceDefinition") < kinds.indexOf("Deployment"), "CRDs before workloads");
  });

  it("gives each controller its own ServiceAccount and places input RBAC in the install namespace", () => {
    for (const name of ["source-controller", "kustomize-controller"]) {
      assert.equal(find(objects, "ServiceAccount", name).metadata.namespace, "flux-system");
      assert.equal(objects.filter((o) => o.kind === "ServiceAccount" && o.metadata.name === name).length, 1, `one ${name} ServiceAccount`);
    }
    assert.equal(find(objects, "Role", "leader-election").metadata.namespace, "flux-system");
    const binding = find(objects, "ClusterRoleBinding", "source-controller");
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "source-controller", namespace: "flux-system" }]);
    assert.equal(find(objects, "ClusterRole", "source-controller").metadata.namespace, undefined, "cluster-scoped stays cluster-scoped");
  });

  it("binds kustomize-controller and helm-controller to cluster-admin as Flux's cluster reconciler", () => {
    const crb = find(objects, "ClusterRoleBinding", "cluster-reconciler-flux-system");
    assert.deepEqual(crb.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" });
    assert.deepEqual(crb.subjects, [
      { kind: "ServiceAccount", name: "kustomize-controller", namespace: "flux-system" },
      { kind: "ServiceAccount", name: "helm-controller", namespace: "flux-system" },
    ]);
  });

  it("renders hardened Deployments with probes on the health port, resources and emptyDirs", () => {
    for (const name of ["source-controller", "kustomize-controller", "helm-controller"]) {
      const d = find(objects, "Deployment", name);
      const spec = podSpec(d);
      assert.equal(spec.serviceAccountName, name);
      const [c] = spec.containers;
      assert.ok(c);
      assert.equal(c.image, "ghcr.io/mooring/controllers:v0.1.0");
      assert.deepEqual(c.securityContext, {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        runAsUser: 65534,
        runAsGroup: 65534,
        seccompProfile: { type: "RuntimeDefault" },
      });
      assert.equal(c.livenessProbe.httpGet.port, "healthz");
      assert.equal(c.readinessProbe.httpGet.port, "healthz");
      assert.deepEqual(c.ports.find((p) => p.name === "healthz")?.containerPort, 9440);
      assert.equal(c.resources.limits.memory, "1Gi");
      assert.ok(c.volumeMounts.some((m) => m.mountPath === "/tmp"));
      assert.deepEqual(d.metadata.labels?.["app.kubernetes.io/component"], name);
    }
    const source = podSpec(find(objects, "Deployment", "source-controller"));
    assert.ok(source.volumes.some((v) => v.name === "data" && v.emptyDir));
    assert.ok(source.containers[0]?.volumeMounts.some((m) => m.name === "data" && m.mountPath === "/data"));
    assert.ok(!podSpec(find(objects, "Deployment", "kustomize-controller")).volumes.some((v) => v.name === "data"));
  });

  it("passes the storage flags to source-controller only", () => {
    const source = podSpec(find(objects, "Deployment", "source-controller")).containers[0]?.args ?? [];
    assert.ok(source.includes("--controllers=source"));
    assert.ok(source.includes("--storage-path=/data"));
    assert.ok(source.includes("--storage-addr=:9090"));
    assert.ok(source.includes("--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."));
    const kustomize = podSpec(find(objects, "Deployment", "kustomize-controller")).containers[0]?.args ?? [];
    assert.ok(kustomize.includes("--controllers=kustomize"));
    assert.ok(!kustomize.some((a) => a.startsWith("--storage")));
    assert.ok(controllerArgs("source", { clusterDomain: "k8s.internal" }).includes("--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.k8s.internal."));
  });

  it("exposes source-controller storage on port 80 of its Service", () => {
    const svc = find(objects, "Service", "source-controller");
    assert.deepEqual(svc.spec, { ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }], selector: { app: "source-controller" }, type: "ClusterIP" });
    const container = podSpec(find(objects, "Deployment", "source-controller")).containers[0];
    assert.equal(container?.ports.find((p) => p.name === "http")?.containerPort, 9090);
  });

  it("renders Flux's three NetworkPolicies, or none when disabled", () => {
    const scraping = find(objects, "NetworkPolicy", "allow-scraping");
    assert.deepEqual((scraping.spec as { ingress: { ports: unknown }[] }).ingress[0]?.ports, [{ port: 8080, protocol: "TCP" }]);
    find(objects, "NetworkPolicy", "allow-egress");
    find(objects, "NetworkPolicy", "allow-webhooks");
    assert.equal(renderInstall(inputs, { version: "0.1.0", networkPolicy: false }).filter((o) => o.kind === "NetworkPolicy").length, 0);
  });

  it("renders only the chosen controllers, and no cluster reconciler without kustomize", () => {
    const only = renderInstall(inputs, { version: "0.1.0", controllers: ["source"] });
    assert.deepEqual(only.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name), ["source-controller"]);
    assert.ok(!only.some((o) => o.metadata.name === "cluster-reconciler-flux-system"));
    assert.ok(!only.some((o) => o.metadata.name === "kustomize-leader-election"));
  });

  it("honours namespace and image settings", () => {
    const objs = renderInstall(inputs, { version: "1.2.3", namespace: "gitops", image: { registry: "registry.local:5000/", name: "ctl", tag: "dev" } });
    assert.ok(objs.filter((o) => o.kind !== "Namespace" && o.kind !== "CustomResourceDefinition" && !o.kind.startsWith("Cluster")).every((o) => o.metadata.namespace === "gitops"));
    assert.equal(find(objs, "ClusterRoleBinding", "cluster-reconciler-gitops").metadata.labels?.["app.kubernetes.io/instance"], "gitops");
    assert.equal(podSpec(find(objs, "Deployment", "source-controller")).containers[0]?.image, "registry.local:5000/ctl:dev");
    assert.equal(imageReference({ digest: "sha256:abc" }, "1.0.0"), "ghcr.io/mooring/controllers@sha256:abc");
    assert.equal(imageReference({ repository: "127.0.0.1:5000/mooring/controllers/", tag: "dev" }, "1.0.0"), "127.0.0.1:5000/mooring/controllers:dev");
    assert.equal(imageReference({ repository: "127.0.0.1:5000/ctl" }, "1.0.0"), "127.0.0.1:5000/ctl:v1.0.0");
    const pulled = renderInstall(inputs, { version: "1.2.3", image: { repository: "127.0.0.1:5000/ctl" }, imagePullPolicy: "Never" });
    const c = podSpec(find(pulled, "Deployment", "kustomize-controller")).containers[0] as Container & { imagePullPolicy: string };
    assert.equal(c.image, "127.0.0.1:5000/ctl:v1.2.3");
    assert.equal(c.imagePullPolicy, "Never");
    assert.equal((podSpec(find(objects, "Deployment", "kustomize-controller")).containers[0] as Container & { imagePullPolicy: string }).imagePullPolicy, "IfNotPresent");
  });

  it("runs one replica of each controller by default, and more kustomize-controllers when asked", () => {
    const replicas = (objs: KubeObject[], name: string) => (find(objs, "Deployment", name).spec as { replicas: number }).replicas;
    assert.equal(replicas(objects, "source-controller"), 1);
    assert.equal(replicas(objects, "kustomize-controller"), 1);
    const two = renderInstall(inputs, { version: "0.1.0", replicas: { kustomize: 2 } });
    assert.equal(replicas(two, "kustomize-controller"), 2);
    assert.equal(replicas(two, "source-controller"), 1);
    assert.ok(podSpec(find(two, "Deployment", "kustomize-controller")).containers[0]?.args.includes("--enable-leader-election"), "replicas elect a leader");
  });

  it("rejects invalid input with a reason", () => {
    assert.throws(() => renderInstall(inputs, { version: "0.1.0", namespace: "Bad_NS" }), (e) => isBootstrapError(e, "InvalidInput") && /Bad_NS/.test(e.message));
    assert.throws(() => renderInstall(inputs, { version: "0.1.0", replicas: { source: 2 } }), (e) => isBootstrapError(e, "InvalidInput") && /replicas.source is 2.*run 1 replica/.test(e.message));
    assert.throws(() => renderInstall(inputs, { version: "0.1.0", replicas: { kustomize: 1.5 } }), (e) => isBootstrapError(e, "InvalidInput") && /replicas.kustomize must be a whole number/.test(e.message));
    assert.throws(() => renderInstall(inputs, { version: "0.1.0", replicas: { image: 1 } as never }), (e) => isBootstrapError(e, "InvalidInput") && /unknown controller "image"/.test(e.message));
    assert.throws(() => renderInstall(inputs, { version: "0.1.0", image: { repository: "r/x", name: "y" } }), (e) => isBootstrapError(e, "InvalidInput") && /either repository or registry and name/.test(e.message));
    const conflicting: InstallInputs = {
      crds: [],
      rbac: {
        source: list({ apiVersion: "v1", kind: "ClusterRole", metadata: { name: "shared" }, rules: [1] }),
        kustomize: list({ apiVersion: "v1", kind: "ClusterRole", metadata: { name: "shared" }, rules: [2] }),
      },
    };
    assert.throws(() => renderInstall(conflicting, { version: "0.1.0" }), (e) => isBootstrapError(e, "InvalidInput") && /shared/.test(e.message));
  });
});

describe("renderInstallYaml", () => {
  it("is deterministic: same inputs give the same bytes, whatever the key order of the inputs", () => {
    const reordered: InstallInputs = {
      rbac: inputs.rbac,
      crds: ([...inputs.crds] as KubeObject[]).reverse().map((c) => ({ spec: c.spec, metadata: c.metadata, kind: c.kind, apiVersion: c.apiVersion })),
    };
    const a = renderInstallYaml(inputs, { version: "0.1.0" });
    assert.equal(renderInstallYaml(reordered, { version: "0.1.0" }), a);
  });

  it("is a multi-document stream that parses back to the rendered objects, head keys first", () => {
    const text = renderInstallYaml(inputs, { version: "0.1.0" });
    const docs = parseAllDocuments(text).map((d) => d.toJSON() as KubeObject);
    assert.deepEqual(docs, JSON.parse(JSON.stringify(renderInstall(inputs, { version: "0.1.0" }))));
    for (const doc of docs) assert.deepEqual(Object.keys(doc).slice(0, 3), ["apiVersion", "kind", "metadata"]);
    assert.match(text, /^---\napiVersion: v1\nkind: Namespace\n/m);
    assert.match(text, /"\$\(RUNTIME_NAMESPACE\)|\$\(RUNTIME_NAMESPACE\)/);
  });
});
