// The ImagePolicy reconciler: the ImageRepository it refers to must be Ready (and allow this namespace), its
// stored tags are read from disk, the policy chooses the latest one, and with digestReflectionPolicy the tag's
// manifest digest is looked up (IfNotPresent: once per tag; Always: at every interval). status.latestRef holds
// the result; a change is an event (status.observedPreviousRef keeps the one before).
import { withDeadline } from "../runtime/abort";
import type { Action, ErrorPolicy, Reconciler } from "../runtime/controller";
import type { Session } from "../runtime/session";
import type { KubeClient } from "../runtime/kube";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { isTrue, markReady } from "../runtime/conditions";
import { ReadyCondition, SucceededReason } from "../api/meta";
import { parseDuration } from "../api/duration";
import { AccessDeniedReason, DependencyNotReadyReason } from "../api/kustomize";
import { InvalidPolicyReason, PolicyChoiceFailedReason, type ImagePolicy, type ImageRef, type ImageRepository } from "../api/image";
import { RegistryClient } from "../source/registry";
import { latestTag, PolicyError, validatePolicy } from "./policy";
import { parseImageName } from "./reference";
import { registryAuth, scanTimeoutMs, userAgent } from "./imagerepository";
import type { TagStore } from "./tagstore";

export const imagePolicyErrorPolicy: ErrorPolicy<ImagePolicy> = { reason: PolicyChoiceFailedReason };

const NamespaceRef = { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false };

/** When a repository is not ready yet, the policy looks again after this long (its watch usually comes first). */
const dependencyRetryMs = 10_000;

export interface ImagePolicyReconcilerOptions {
  store: TagStore;
  /** An ImageRepository from the shared cache, by "namespace/name". */
  repository: (key: string) => ImageRepository | undefined;
}

/** The repository's namespace lets the policy's namespace use it: the same one, or accessFrom's selectors match. */
export async function accessAllowed(client: KubeClient, repo: ImageRepository, policyNamespace: string, signal: AbortSignal): Promise<boolean> {
  if (repo.metadata.namespace === policyNamespace) return true;
  const selectors = repo.spec.accessFrom?.namespaceSelectors ?? [];
  if (!selectors.length) return false;
  const ns = await client.get<{ metadata: { labels?: Record<string, string> } }>(NamespaceRef, undefined, policyNamespace, { signal });
  const labels = ns.metadata.labels ?? {};
  return selectors.some((sel) => Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v));
}

export function imageRefString(ref: ImageRef): string {
  return `${ref.name}:${ref.tag}${ref.digest ? `@${ref.digest}` : ""}`;
}

export class ImagePolicyReconciler implements Reconciler<ImagePolicy> {
  constructor(private readonly o: ImagePolicyReconcilerOptions) {}

  reconcile(s: Session<ImagePolicy>): Promise<Action | void> {
    return s.withFinalizer(
      () => this.choose(s),
      () => Promise.resolve(),
    );
  }

  private async choose(s: Session<ImagePolicy>): Promise<Action | void> {
    const { obj } = s;
    const status = (obj.status ??= {});
    try {
      validatePolicy(obj.spec);
    } catch (err) {
      throw new ReconcileError(InvalidPolicyReason, errorMessage(err), { stalled: true });
    }
    const reflect = obj.spec.digestReflectionPolicy ?? "Never";
    if (reflect === "Always" && !obj.spec.interval) throw new ReconcileError(InvalidPolicyReason, "spec.interval is required with digestReflectionPolicy 'Always'", { stalled: true });
    const ref = obj.spec.imageRepositoryRef;
    const repoKey = `${ref.namespace ?? obj.metadata.namespace}/${ref.name}`;
    const repo = this.o.repository(repoKey);
    if (!repo) throw new ReconcileError(DependencyNotReadyReason, `referenced ImageRepository '${repoKey}' not found`);
    if (!(await accessAllowed(s.client, repo, obj.metadata.namespace!, s.signal))) {
      throw new ReconcileError(AccessDeniedReason, `ImageRepository '${repoKey}' does not allow ImagePolicies of namespace '${obj.metadata.namespace}' (set its spec.accessFrom)`, { stalled: true });
    }
    const canonical = repo.status?.canonicalImageName;
    const tags = canonical ? await this.o.store.get(canonical) : undefined;
    if (!isTrue(repo, ReadyCondition) || !canonical || tags === undefined) {
      throw new ReconcileError(DependencyNotReadyReason, `referenced ImageRepository '${repoKey}' is not ready: it has no scan result yet`);
    }
    let tag: string | undefined;
    try {
      tag = latestTag(obj.spec, tags);
    } catch (err) {
      throw new ReconcileError(err instanceof PolicyError ? InvalidPolicyReason : PolicyChoiceFailedReason, errorMessage(err), { stalled: err instanceof PolicyError });
    }
    const image = repo.spec.image.trim();
    if (tag === undefined) throw new ReconcileError(PolicyChoiceFailedReason, `no tag of '${image}' (${tags.length} tags) satisfies the policy`);
    const previous = status.latestRef;
    const next: ImageRef = { name: image, tag };
    if (reflect !== "Never") {
      const keep = reflect === "IfNotPresent" && previous?.name === image && previous.tag === tag && previous.digest;
      next.digest = keep ? previous.digest : await this.digest(s, repo, tag);
    }
    const changed = !previous || imageRefString(previous) !== imageRefString(next);
    if (changed && previous) status.observedPreviousRef = previous;
    status.latestRef = next;
    const message = `Latest image tag for ${image} resolved to ${tag}`;
    markReady(obj, SucceededReason, message);
    if (changed) {
      const what = previous ? `Latest image tag for ${image} updated from ${previous.tag} to ${tag}` : message;
      s.event("Normal", SucceededReason, what);
      s.log.info({ latest: imageRefString(next), previous: previous ? imageRefString(previous) : undefined }, what);
    }
    if (reflect === "Always") return { requeueAfter: parseDuration(obj.spec.interval!) };
    return obj.spec.interval ? { requeueAfter: parseDuration(obj.spec.interval) } : undefined;
  }

  private async digest(s: Session<ImagePolicy>, repo: ImageRepository, tag: string): Promise<string> {
    const image = parseImageName(repo.spec.image);
    return withDeadline(s.signal, scanTimeoutMs(repo), async (signal) => {
      const auth = await registryAuth(s.client, repo, image, signal);
      const client = new RegistryClient({ registry: image.registry, repository: image.repository, ...auth, insecure: repo.spec.insecure, signal, userAgent });
      try {
        return await client.resolve(tag);
      } catch (err) {
        throw new ReconcileError(PolicyChoiceFailedReason, `failed to look up the digest of '${image.canonical}:${tag}': ${errorMessage(err)}`, { cause: err });
      }
    });
  }
}

export { dependencyRetryMs };
