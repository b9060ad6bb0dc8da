// What the Bootstrap renders, from plain settings: the install objects, the sync objects and the three
// flux-system files. The git files and the cluster install render from the same settings, so the first
// apply and the repository always agree.
import { createHash } from "node:crypto";
import {
  componentsFile,
  fluxSystemDir,
  fluxSystemFiles,
  renderInstall,
  renderInstallYaml,
  renderSync,
  renderSyncYaml,
  syncFile,
  type InstallInputs,
  type InstallOptions,
  type KubeObject,
  type SyncOptions,
} from "../../bootstrap";
import { crds, helmControllerRbac, imageAutomationControllerRbac, imageReflectorControllerRbac, kustomizeControllerRbac, notificationControllerRbac, sourceControllerRbac, sourceWatcherRbac } from "../../controllers/api";

/** The Mooring objects the install holds, as the other modules define them. */
export function installInputs(namespace: string): InstallInputs {
  return {
    crds: crds(),
    rbac: {
      source: sourceControllerRbac(namespace),
      // The renderer adds Flux's cluster-reconciler binding itself.
      kustomize: kustomizeControllerRbac(namespace, { clusterAdmin: false }),
      helm: helmControllerRbac(namespace, { clusterAdmin: false }),
      notification: notificationControllerRbac(namespace),
      "source-watcher": sourceWatcherRbac(namespace),
      "image-reflector": imageReflectorControllerRbac(namespace),
      "image-automation": imageAutomationControllerRbac(namespace),
    },
  };
}

export function installObjects(install: InstallOptions): KubeObject[] {
  return renderInstall(installInputs(install.namespace ?? "flux-system"), install);
}

export function syncObjects(sync: SyncOptions): KubeObject[] {
  return renderSync(sync);
}

/** The two generated files (gotk-components.yaml, gotk-sync.yaml) by repository path. */
export function generatedFiles(install: InstallOptions, sync: SyncOptions, path: string | undefined): Record<string, string> {
  const dir = fluxSystemDir(path);
  return {
    [`${dir}/${componentsFile}`]: renderInstallYaml(installInputs(install.namespace ?? "flux-system"), install),
    [`${dir}/${syncFile}`]: renderSyncYaml(sync),
  };
}

/** All three files, keeping an existing kustomization.yaml (users put patches there). */
export function allFiles(install: InstallOptions, sync: SyncOptions, path: string | undefined, existingKustomization: string | undefined): Record<string, string> {
  const generated = generatedFiles(install, sync, path);
  const dir = fluxSystemDir(path);
  return fluxSystemFiles({
    path,
    components: generated[`${dir}/${componentsFile}`]!,
    sync: generated[`${dir}/${syncFile}`]!,
    existingKustomization,
  }).files;
}

export function digest(content: string): string {
  return `sha256:${createHash("sha256").update(content).digest("hex")}`;
}

/** path → digest of content, in path order (stable JSON for diffs). */
export function digests(files: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of Object.keys(files).sort()) {
    const content = files[p];
    out[p] = content === undefined ? "absent" : digest(content);
  }
  return out;
}
