// ConfigMaps and Secrets a Kustomization uses (postBuild.substituteFrom, the decryption Secret) trigger its
// reconcile when they change, if they carry the label reconcile.fluxcd.io/watch: Enabled — as Flux does. The
// predicate decides which events count; the index maps a changed object to the Kustomizations that use it,
// without scanning them all.
import { WatchEnabledValue, WatchLabel } from "../api/meta";
import type { Kustomization } from "../api/kustomize";

export type ConfigKind = "ConfigMap" | "Secret";

interface ConfigObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

/** True when the ConfigMap or Secret carries reconcile.fluxcd.io/watch: Enabled. */
export function isWatchedConfig(obj: ConfigObject | undefined): boolean {
  return obj?.metadata?.labels?.[WatchLabel] === WatchEnabledValue;
}

/**
 * The event predicate: a watched object was added, deleted or changed (a new resourceVersion). An object that
 * loses the label still counts on that update, so the change that removed it is seen.
 */
export function watchedConfigChanged(old: ConfigObject | undefined, next: ConfigObject | undefined): boolean {
  if (!isWatchedConfig(old) && !isWatchedConfig(next)) return false;
  if (!old || !next) return true;
  return old.metadata?.resourceVersion !== next.metadata?.resourceVersion;
}

/** "<Kind>/<namespace>/<name>" of a ConfigMap or Secret, the index's key. */
export const configKey = (kind: ConfigKind, namespace: string, name: string): string => `${kind}/${namespace}/${name}`;

/** The keys of the ConfigMaps and Secrets a Kustomization uses (all in its own namespace), optional ones included. */
export function configKeysOf(ks: Kustomization): string[] {
  const ns = ks.metadata.namespace ?? "";
  const keys = new Set<string>();
  for (const ref of ks.spec.postBuild?.substituteFrom ?? []) keys.add(configKey(ref.kind, ns, ref.name));
  const decryption = ks.spec.decryption?.secretRef?.name;
  if (decryption) keys.add(configKey("Secret", ns, decryption));
  const kubeConfig = ks.spec.kubeConfig?.secretRef?.name;
  if (kubeConfig) keys.add(configKey("Secret", ns, kubeConfig));
  return [...keys];
}

/** Which Kustomizations ("<namespace>/<name>") use which ConfigMaps and Secrets; kept current from Kustomization events. */
export class ConfigDependents {
  private readonly byConfig = new Map<string, Set<string>>();
  private readonly byKustomization = new Map<string, string[]>();

  /** Records (or re-records) what a Kustomization uses. */
  set(ks: Kustomization): void {
    const owner = `${ks.metadata.namespace}/${ks.metadata.name}`;
    this.delete(owner);
    const keys = configKeysOf(ks);
    if (!keys.length) return;
    this.byKustomization.set(owner, keys);
    for (const k of keys) {
      let set = this.byConfig.get(k);
      if (!set) this.byConfig.set(k, (set = new Set()));
      set.add(owner);
    }
  }

  /** Forgets a deleted Kustomization ("<namespace>/<name>"). */
  delete(owner: string): void {
    for (const k of this.byKustomization.get(owner) ?? []) {
      const set = this.byConfig.get(k);
      set?.delete(owner);
      if (set?.size === 0) this.byConfig.delete(k);
    }
    this.byKustomization.delete(owner);
  }

  /** The Kustomizations ("<namespace>/<name>", sorted) that use the given ConfigMap or Secret. */
  dependentsOf(kind: ConfigKind, namespace: string, name: string): string[] {
    return [...(this.byConfig.get(configKey(kind, namespace, name)) ?? [])].sort();
  }
}
