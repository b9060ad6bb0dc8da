// The image-reflector-controller: ImageRepository (scans into the on-disk tag store) and ImagePolicy (chooses
// from it), wired into a Manager. A repository's new scan result makes the policies that use it reconcile.
import * as path from "node:path";
import type { Manager } from "../runtime/manager";
import { objectKey } from "../runtime/informer";
import { ImagePolicyKind, ImageRepositoryKind, type ImagePolicy, type ImageRepository } from "../api/image";
import { ImageRepositoryReconciler, imageRepositoryErrorPolicy, scanTimeoutMs } from "./imagerepository";
import { ImagePolicyReconciler, imagePolicyErrorPolicy } from "./imagepolicy";
import { TagStore } from "./tagstore";

export { TagStore } from "./tagstore";
export { latestTag, latestTags, filterTags, validatePolicy } from "./policy";
export { parseImageName } from "./reference";

export interface ImageReflectorOptions {
  /** Where the tag store lives (Flux's --storage-path, default /data in a cluster). */
  storagePath: string;
  concurrent?: number;
}

export interface ImageReflectorHandle {
  store: TagStore;
}

const repositoryIndex = "imageRepository";

export function addImageReflectorController(mgr: Manager, o: ImageReflectorOptions): ImageReflectorHandle {
  const store = new TagStore(path.join(o.storagePath, "tags"));
  const repositories = mgr.informer<ImageRepository>(ImageRepositoryKind.resource);
  mgr
    .controller<ImageRepository>(ImageRepositoryKind, {
      name: "imagerepository",
      concurrency: o.concurrent ?? 4,
      reconcileTimeoutMs: (obj) => scanTimeoutMs(obj) * 2 + 30_000,
    })
    .errorPolicy(imageRepositoryErrorPolicy)
    .complete(new ImageRepositoryReconciler(store));
  mgr
    .controller<ImagePolicy>(ImagePolicyKind, { name: "imagepolicy", concurrency: o.concurrent ?? 4 })
    .index(repositoryIndex, (p) => [`${p.spec.imageRepositoryRef.namespace ?? p.metadata.namespace}/${p.spec.imageRepositoryRef.name}`])
    .watches<ImageRepository>(
      ImageRepositoryKind,
      (repo, old) => {
        const ready = (r?: ImageRepository) => r?.status?.conditions?.find((c) => c.type === "Ready")?.status;
        const moved = !old || repo.status?.lastScanResult?.revision !== old.status?.lastScanResult?.revision || ready(repo) !== ready(old) || repo.status?.canonicalImageName !== old.status?.canonicalImageName;
        return moved ? [objectKey(repo)] : [];
      },
      { via: repositoryIndex },
    )
    .errorPolicy(imagePolicyErrorPolicy)
    .complete(new ImagePolicyReconciler({ store, repository: (k) => repositories.get(k) }));
  return { store };
}
