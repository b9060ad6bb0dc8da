// The ImageRepository reconciler: list the repository's tags through the registry API (paginated, with the
// Secret's credentials and the bearer-token flow the registry asks for), drop the excluded ones, store them on
// disk and report status.canonicalImageName and status.lastScanResult. A repository scanned less than an
// interval ago (also before a restart) is not scanned again unless its spec changed or a reconcile was requested.
import { createHash } from "node:crypto";
import { withDeadline } from "../runtime/abort";
import type { Action, ErrorPolicy, Reconciler } from "../runtime/controller";
import type { Session } from "../runtime/session";
import type { KubeClient } from "../runtime/kube";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { markReady, rfc3339 } from "../runtime/conditions";
import { SucceededReason } from "../api/meta";
import { parseDuration } from "../api/duration";
import { AuthenticationFailedReason } from "../api/source";
import { ReadOperationFailedReason } from "../api/source-oci";
import { defaultExclusionList, ImageURLInvalidReason, type ImageRepository } from "../api/image";
import { RegistryClient, RegistryError } from "../source/registry";
import { loadRegistryAuth, type RegistryAuth } from "../source/ocisecrets";
import { goRegExp, latestTags, PolicyError } from "./policy";
import { parseImageName, type ImageName } from "./reference";
import type { TagStore } from "./tagstore";

export const imageRepositoryErrorPolicy: ErrorPolicy<ImageRepository> = { reason: ReadOperationFailedReason };

export const userAgent = "mooring-image-reflector-controller";

/** Flux's timeout default: the interval, capped at one minute. */
export function scanTimeoutMs(obj: ImageRepository): number {
  if (obj.spec.timeout) return parseDuration(obj.spec.timeout);
  return Math.min(parseDuration(obj.spec.interval), 60_000);
}

/** Registry credentials and TLS of an image repository, as ReconcileErrors with the image API's reasons. */
export async function registryAuth(client: KubeClient, repo: ImageRepository, image: ImageName, signal: AbortSignal): Promise<RegistryAuth> {
  try {
    return await loadRegistryAuth(client, repo.metadata.namespace!, repo.spec, image.registry, signal);
  } catch (err) {
    // The source API's helper marks FetchFailed; the image API has no such condition.
    throw new ReconcileError(err instanceof ReconcileError ? err.reason : AuthenticationFailedReason, errorMessage(err), { cause: err });
  }
}

export function tagsRevision(tags: readonly string[]): string {
  const h = createHash("sha256");
  for (const t of [...tags].sort()) h.update(t).update("\n");
  return `sha256:${h.digest("hex")}`;
}

export class ImageRepositoryReconciler implements Reconciler<ImageRepository> {
  constructor(private readonly store: TagStore) {}

  reconcile(s: Session<ImageRepository>): Promise<Action | void> {
    return s.withFinalizer(
      () => this.scan(s),
      async () => {
        const canonical = s.obj.status?.canonicalImageName;
        if (canonical) await this.store.remove(canonical);
      },
    );
  }

  private async scan(s: Session<ImageRepository>): Promise<Action> {
    const { obj } = s;
    const status = (obj.status ??= {});
    const interval = parseDuration(obj.spec.interval);
    let image: ImageName;
    try {
      image = parseImageName(obj.spec.image);
    } catch (err) {
      throw new ReconcileError(ImageURLInvalidReason, `invalid image '${obj.spec.image}': ${errorMessage(err)}`, { stalled: true });
    }
    const unsupported = [
      obj.spec.provider && obj.spec.provider !== "generic" ? `provider '${obj.spec.provider}'` : undefined,
      obj.spec.serviceAccountName ? "serviceAccountName" : undefined,
      obj.spec.proxySecretRef ? "proxySecretRef" : undefined,
    ].filter((x) => x !== undefined);
    if (unsupported.length) throw new ReconcileError(ReadOperationFailedReason, `not supported by Mooring yet: ${unsupported.join(", ")} (use secretRef with a kubernetes.io/dockerconfigjson Secret)`, { stalled: true });
    const exclusions = obj.spec.exclusionList ?? defaultExclusionList;
    let excluded: RegExp[];
    try {
      excluded = exclusions.map((e) => goRegExp(e));
    } catch (err) {
      throw new ReconcileError(ReadOperationFailedReason, `invalid exclusionList: ${err instanceof PolicyError ? err.message : errorMessage(err)}`, { stalled: true });
    }
    const last = status.lastScanResult?.scanTime ? Date.parse(status.lastScanResult.scanTime) : NaN;
    const unchanged =
      status.observedGeneration === obj.metadata.generation &&
      status.canonicalImageName === image.canonical &&
      JSON.stringify(status.observedExclusionList ?? null) === JSON.stringify(exclusions) &&
      this.store.has(image.canonical);
    if (unchanged && !s.requested && Number.isFinite(last) && Date.now() - last < interval) {
      return { requeueAfter: Math.max(1_000, interval - (Date.now() - last)) };
    }
    s.progressingOnNewGeneration();
    const tags = await withDeadline(s.signal, scanTimeoutMs(obj), async (signal) => {
      const auth = await registryAuth(s.client, obj, image, signal);
      const client = new RegistryClient({ registry: image.registry, repository: image.repository, ...auth, insecure: obj.spec.insecure, signal, userAgent });
      try {
        return await client.tags();
      } catch (err) {
        const status401 = err instanceof RegistryError && (err.status === 401 || err.status === 403);
        throw new ReconcileError(status401 ? AuthenticationFailedReason : ReadOperationFailedReason, `failed to list tags of '${image.canonical}': ${errorMessage(err)}`, { cause: err });
      }
    });
    const kept = tags.filter((t) => !excluded.some((re) => re.test(t)));
    await this.store.set(image.canonical, kept);
    const revision = tagsRevision(kept);
    const changed = status.lastScanResult?.revision !== revision;
    status.canonicalImageName = image.canonical;
    status.observedExclusionList = exclusions;
    status.lastScanResult = { revision, tagCount: kept.length, scanTime: rfc3339(new Date()), latestTags: latestTags(kept) };
    const message = `successful scan: found ${kept.length} tags`;
    markReady(obj, SucceededReason, message);
    s.log.info({ image: image.canonical, tags: kept.length, excluded: tags.length - kept.length, ms: Date.now() - s.startedAt }, message);
    if (changed) s.event("Normal", SucceededReason, `${message} for '${image.canonical}'`);
    return { requeueAfter: interval };
  }
}
