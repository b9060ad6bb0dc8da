// The image automation components in the install: off by default, as in Flux; when asked for, Deployments
// named as Flux names them, the image-reflector-controller with its tag store on a /data volume, and each with
// its own least-privilege RBAC from controllers/api.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderInstall } from "../../../bootstrap/manifests/install";
import type { KubeObject } from "../../../bootstrap/manifests/objects";
import { installInputs } from "../../../provider/impl/render";
import { imageAutomationControllerRbac, imageReflectorControllerRbac } from "../../../controllers/api";

const deployments = (objs: KubeObject[]) => objs.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name);
type Container = { args: string[]; volumeMounts: { mountPath: string }[] };
const container = (o: KubeObject) => (o as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec.containers[0]!;

describe("install: image automation components", () => {
  it("are not installed by default", () => {
    const objs = renderInstall(installInputs("flux-system"), { version: "0.1.0" });
    assert.ok(!deployments(objs).some((n) => n.startsWith("image-")));
    assert.ok(objs.some((o) => o.kind === "CustomResourceDefinition" && o.metadata.name === "imagepolicies.image.toolkit.fluxcd.io"), "the CRDs are part of every install");
  });

  it("image-reflector-controller and image-automation-controller when asked for", () => {
    const objs = renderInstall(installInputs("flux-system"), { version: "0.1.0", controllers: ["source", "kustomize", "image-reflector", "image-automation"] });
    assert.deepEqual(deployments(objs).filter((n) => n.startsWith("image-")).sort(), ["image-automation-controller", "image-reflector-controller"]);
    const reflector = container(objs.find((o) => o.kind === "Deployment" && o.metadata.name === "image-reflector-controller")!);
    assert.ok(reflector.args.includes("--controllers=image-reflector"));
    assert.ok(reflector.args.includes("--storage-path=/data"));
    assert.ok(reflector.volumeMounts.some((m) => m.mountPath === "/data"));
    const automation = container(objs.find((o) => o.kind === "Deployment" && o.metadata.name === "image-automation-controller")!);
    assert.ok(automation.args.includes("--controllers=image-automation"));
    for (const sa of ["image-reflector-controller", "image-automation-controller"]) assert.ok(objs.some((o) => o.kind === "ServiceAccount" && o.metadata.name === sa));
  });

  it("RBAC: read-only Secrets, no write to other kinds", () => {
    for (const objs of [imageReflectorControllerRbac("flux-system"), imageAutomationControllerRbac("flux-system")]) {
      const role = objs.find((o) => o.kind === "ClusterRole") as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
      for (const rule of role.rules) {
        if (rule.resources.includes("secrets") || rule.resources.includes("gitrepositories") || rule.resources.includes("namespaces")) assert.deepEqual(rule.verbs, ["get", "list", "watch"]);
        assert.ok(!rule.verbs.includes("*") && !rule.resources.includes("*"));
        assert.ok(!rule.verbs.includes("delete") || rule.resources.every((r) => r.endsWith("/finalizers")));
      }
    }
  });
});
