// Resolving a Kustomization's source and its artifact, and the cross-namespace rule.
import { ReconcileError } from "../runtime/errors";
import { isNotFound, type KubeClient, type ResourceRef } from "../runtime/kube";
import { ArtifactFailedReason, SourceGroup, type Artifact } from "../api/source";
import { AccessDeniedReason, type Kustomization } from "../api/kustomize";

export interface SourceObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number };
  status?: { artifact?: Artifact; conditions?: { type: string; status: string; message?: string }[] };
}

const sourcePlurals: Record<string, string> = { GitRepository: "gitrepositories", OCIRepository: "ocirepositories", Bucket: "buckets", ExternalArtifact: "externalartifacts" };

export function sourceResource(kind: string, apiVersion?: string): ResourceRef {
  const plural = sourcePlurals[kind];
  if (!plural) throw new ReconcileError(ArtifactFailedReason, `source kind '${kind}' is not supported`, { stalled: true });
  const [group, version] = apiVersion?.includes("/") ? (apiVersion.split("/") as [string, string]) : [SourceGroup, "v1"];
  return { kind, group, version, plural, namespaced: true };
}

export const sourceKey = (ks: Kustomization): string => `${ks.spec.sourceRef.kind}/${ks.spec.sourceRef.namespace || ks.metadata.namespace}/${ks.spec.sourceRef.name}`;

/** The source object, from the cache when given, else from the apiserver; errors are ArtifactFailed. */
export async function getSource(
  ks: Kustomization,
  o: { client: KubeClient; noCrossNamespaceRefs: boolean; cached?: (kind: string, key: string) => SourceObject | undefined; signal: AbortSignal },
): Promise<SourceObject> {
  const ref = ks.spec.sourceRef;
  const ns = ref.namespace || ks.metadata.namespace!;
  const subject = `${ref.kind}/${ns}/${ref.name}`;
  if (o.noCrossNamespaceRefs && ns !== ks.metadata.namespace) {
    throw new ReconcileError(AccessDeniedReason, `can't access '${subject}', cross-namespace references have been blocked`, { stalled: true });
  }
  const cachedSource = o.cached?.(ref.kind, `${ns}/${ref.name}`);
  if (cachedSource) return cachedSource;
  try {
    return await o.client.get<SourceObject>(sourceResource(ref.kind, ref.apiVersion), ns, ref.name, { signal: o.signal });
  } catch (err) {
    if (isNotFound(err)) throw new ReconcileError(ArtifactFailedReason, `Source '${subject}' not found`);
    throw new ReconcileError(ArtifactFailedReason, `failed to get source '${subject}': ${(err as Error).message}`);
  }
}
