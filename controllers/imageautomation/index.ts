// The image-automation-controller: ImageUpdateAutomation wired into a Manager. A selected ImagePolicy's new
// latest image makes the automations of its namespace run at once.
import type { Manager } from "../runtime/manager";
import { objectKey } from "../runtime/informer";
import { GitRepositoryKind, type GitRepository } from "../api/source";
import { ImagePolicyKind, ImageUpdateAutomationKind, type ImagePolicy, type ImageUpdateAutomation } from "../api/image";
import { ImageUpdateAutomationReconciler, imageUpdateAutomationErrorPolicy } from "./imageupdateautomation";

export { applySetters, parseMarker, SetterError } from "./setters";
export { renderTemplate } from "./template";

export interface ImageAutomationOptions {
  concurrent?: number;
  tempDir?: string;
}

const namespaceIndex = "namespace";

export function addImageAutomationController(mgr: Manager, o: ImageAutomationOptions = {}): void {
  const repositories = mgr.informer<GitRepository>(GitRepositoryKind.resource);
  const policies = mgr.informer<ImagePolicy>(ImagePolicyKind.resource);
  policies.addIndex(namespaceIndex, (p) => [p.metadata.namespace ?? ""]);
  mgr
    .controller<ImageUpdateAutomation>(ImageUpdateAutomationKind, { name: "imageupdateautomation", concurrency: o.concurrent ?? 4, reconcileTimeoutMs: () => 10 * 60_000 })
    .index(namespaceIndex, (a) => [a.metadata.namespace ?? ""])
    .watches<ImagePolicy>(
      ImagePolicyKind,
      (p, old) => (JSON.stringify(p.status?.latestRef ?? null) !== JSON.stringify(old?.status?.latestRef ?? null) ? [p.metadata.namespace ?? ""] : []),
      { via: namespaceIndex },
    )
    .errorPolicy(imageUpdateAutomationErrorPolicy)
    .complete(
      new ImageUpdateAutomationReconciler({
        gitRepository: (k) => repositories.get(k),
        policies: (ns) => policies.byIndex(namespaceIndex, ns).map((k) => policies.get(k)).filter((p): p is ImagePolicy => p !== undefined),
        tempDir: o.tempDir,
      }),
    );
}

export { objectKey };
