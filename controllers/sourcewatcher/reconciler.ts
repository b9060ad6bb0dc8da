// The ArtifactGenerator reconciler (Flux's source-watcher): validate the spec → read the sources' artifacts →
// when their revisions or the spec changed (or a generated artifact went missing), download each (digest
// verified) and unpack it → stage every output artifact with its copy rules → archive and store it →
// server-side apply the ExternalArtifact and write its status → delete the ExternalArtifacts no longer
// generated → inventory and conditions. A failure anywhere before the applies leaves every ExternalArtifact
// as it was.
import * as fs from "node:fs";
import { requireStorage } from "../source/artifactreconciler";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import type { Action, ErrorPolicy, Reconciler } from "../runtime/controller";
import type { Session } from "../runtime/session";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { getCondition, markReady, removeCondition } from "../runtime/conditions";
import { isNotFound, type KubeClient, type ResourceRef } from "../runtime/kube";
import { ProgressingReason, ReadyCondition, SucceededReason } from "../api/meta";
import { SourceGroup, SourceVersion, type Artifact } from "../api/source";
import { ExternalArtifactKind, type ExternalArtifact } from "../api/source-external";
import {
  ArtifactGeneratorKind,
  ArtifactGeneratorLabel,
  ArtifactGeneratorReconcileAnnotation,
  ArtifactOriginRevisionKey,
  GeneratorBuildFailedReason,
  GeneratorValidationFailedReason,
  ReconciliationDisabledReason,
  SourceFetchFailedReason,
  type ArtifactGenerator,
  type ExternalArtifactReference,
  type GeneratorSourceReference,
  type OutputArtifact,
} from "../api/source-extensions";
import { downloadArtifact, extractArtifact, type ExtractLimits } from "../kustomize/artifact";
import { IgnoreMatcher } from "../source/ignore";
import { writeArchive } from "../source/tarball";
import type { Storage } from "../source/storage";
import { ArtifactStager, CopyError, defaultCopyLimits, parseFrom, parseTo, type CopyLimits } from "./copy";

export const SourceWatcherName = "source-watcher";
export const AccessDeniedReason = "AccessDenied";

/** Where each source kind lives (all in source.toolkit.fluxcd.io/v1). */
export const generatorSourceRefs: Record<GeneratorSourceReference["kind"], ResourceRef> = {
  GitRepository: { kind: "GitRepository", group: SourceGroup, version: SourceVersion, plural: "gitrepositories", namespaced: true },
  OCIRepository: { kind: "OCIRepository", group: SourceGroup, version: SourceVersion, plural: "ocirepositories", namespaced: true },
  Bucket: { kind: "Bucket", group: SourceGroup, version: SourceVersion, plural: "buckets", namespaced: true },
  HelmChart: { kind: "HelmChart", group: SourceGroup, version: SourceVersion, plural: "helmcharts", namespaced: true },
  ExternalArtifact: ExternalArtifactKind.resource,
};

/** A source object as far as the generator reads it. */
export interface GeneratorSource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  status?: { artifact?: Artifact };
}

/** What the generator saw of one source: the artifact it reads. */
interface ObservedSource {
  alias: string;
  subject: string;
  digest: string;
  revision: string;
  originRevision?: string;
  url: string;
}

export interface ArtifactGeneratorReconcilerOptions {
  storage: () => Storage | undefined;
  /** Sources and ExternalArtifacts from the informers' caches; the apiserver is asked when they have none. */
  cachedSource?: (kind: string, key: string) => GeneratorSource | undefined;
  cachedExternalArtifact?: (key: string) => ExternalArtifact | undefined;
  /** Refuse sources in other namespaces (--no-cross-namespace-refs). */
  noCrossNamespaceRefs?: boolean;
  tempDir?: string;
  /** Bounds of each downloaded source and of each generated artifact. */
  sourceLimits?: ExtractLimits;
  artifactLimits?: CopyLimits;
  /** Re-check at this interval even without source events (Flux: 1h). */
  intervalMs?: number;
}

export const artifactGeneratorErrorPolicy: ErrorPolicy<ArtifactGenerator> = { reason: "ReconciliationFailed" };

const invalid = (message: string) => new ReconcileError(GeneratorValidationFailedReason, message, { stalled: true });
const buildFailed = (message: string, cause?: unknown) => new ReconcileError(GeneratorBuildFailedReason, message, { cause });

/** Digest of what the generator read: each alias with its source's digest, revision and URL, in alias order. */
export function observedSourcesDigest(sources: readonly ObservedSource[]): string {
  const parts = sources.map((s) => `${s.alias}=[digest=${s.digest},revision=${s.revision},url=${s.url}]`).sort();
  return `sha256:${createHash("sha256").update(parts.join("|")).digest("hex")}`;
}

/** Terminal spec errors: alias clashes, unknown aliases, duplicate names, unsafe paths, blocked namespaces. */
export function validateGenerator(obj: ArtifactGenerator, noCrossNamespaceRefs = false): void {
  const aliases = new Set<string>();
  for (const src of obj.spec.sources) {
    if (aliases.has(src.alias)) throw invalid(`duplicate source alias '${src.alias}' found: each source needs its own alias`);
    aliases.add(src.alias);
    if (noCrossNamespaceRefs && src.namespace && src.namespace !== obj.metadata.namespace) {
      throw new ReconcileError(AccessDeniedReason, `cross-namespace reference to source ${src.kind}/${src.namespace}/${src.name} is not allowed`, { stalled: true });
    }
  }
  const names = new Set<string>();
  for (const out of obj.spec.artifacts) {
    if (names.has(out.name)) throw invalid(`duplicate artifact name '${out.name}' found`);
    names.add(out.name);
    for (const [field, ref] of [["revision", out.revision], ["originRevision", out.originRevision]] as const) {
      if (ref && !aliases.has(ref.replace(/^@/, ""))) throw invalid(`artifact ${out.name} ${field} source alias '${ref.replace(/^@/, "")}' not found`);
    }
    for (const rule of out.copy) {
      try {
        const { alias } = parseFrom(rule.from);
        if (!aliases.has(alias)) throw new CopyError(`source alias '${alias}' is not in spec.sources`);
        parseTo(rule.to);
      } catch (err) {
        if (err instanceof CopyError) throw invalid(`artifact ${out.name}: copy from '${rule.from}' to '${rule.to}': ${err.message}`);
        throw err;
      }
    }
  }
}

/** The generated artifact's revision and metadata: '@alias' revisions resolved, else 'latest@<digest>'. */
export function artifactRevisions(out: OutputArtifact, digest: string, sources: ReadonlyMap<string, ObservedSource>): { revision: string; metadata?: Record<string, string> } {
  const bySpec = out.revision ? sources.get(out.revision.replace(/^@/, ""))?.revision : undefined;
  const origin = out.originRevision ? sources.get(out.originRevision.replace(/^@/, "")) : undefined;
  return {
    revision: bySpec ?? `latest@${digest}`,
    ...(origin ? { metadata: { [ArtifactOriginRevisionKey]: origin.originRevision ?? origin.revision } } : {}),
  };
}

export class ArtifactGeneratorReconciler implements Reconciler<ArtifactGenerator> {
  constructor(private readonly opts: ArtifactGeneratorReconcilerOptions) {}

  reconcile(s: Session<ArtifactGenerator>): Promise<Action | void> {
    return s.withFinalizer(
      () => this.generate(s),
      async () => {
        for (const ref of s.obj.status?.inventory ?? []) await this.deleteExternalArtifact(s, ref);
        s.log.info({ deleted: (s.obj.status?.inventory ?? []).length }, "generated ExternalArtifacts deleted, finalizer released");
      },
    );
  }

  private get storage(): Storage {
    return requireStorage(this.opts.storage());
  }

  private async generate(s: Session<ArtifactGenerator>): Promise<Action> {
    const { obj } = s;
    const status = (obj.status ??= {});
    if (obj.metadata.annotations?.[ArtifactGeneratorReconcileAnnotation]?.toLowerCase() === "disabled") {
      s.log.info(`reconciliation is disabled by the annotation ${ArtifactGeneratorReconcileAnnotation}`);
      s.event("Normal", ReconciliationDisabledReason, "Reconciliation is disabled");
      return {};
    }
    validateGenerator(obj, this.opts.noCrossNamespaceRefs);
    const sources = await this.observeSources(s);
    const digest = observedSourcesDigest([...sources.values()]);
    const upToDate =
      status.observedSourcesDigest === digest &&
      status.observedGeneration === obj.metadata.generation &&
      getCondition(obj, ReadyCondition)?.status === "True" &&
      (await this.inventoryIntact(s));
    if (upToDate) {
      s.log.info({ artifacts: status.inventory?.length ?? 0 }, "no drift detected, artifacts up to date");
      return { requeueAfter: this.opts.intervalMs ?? 3_600_000 };
    }
    s.progressing(ProgressingReason, "reconciliation in progress");
    const scratch = await fs.promises.mkdtemp(path.join(this.opts.tempDir ?? os.tmpdir(), "mooring-ag-"));
    let refs: ExternalArtifactReference[];
    let changed: string[];
    try {
      const trees = await this.fetchSources(s, sources, scratch);
      const built = [];
      // Every artifact is staged and stored before any ExternalArtifact changes: a bad rule changes nothing.
      for (const out of obj.spec.artifacts) built.push({ out, artifact: await this.build(s, out, trees, sources, scratch) });
      refs = [];
      changed = [];
      for (const { out, artifact } of built) {
        const ref = await this.applyExternalArtifact(s, out, artifact);
        if (!status.inventory?.some((r) => r.name === ref.name && r.namespace === ref.namespace && r.digest === ref.digest)) changed.push(`${ref.namespace}/${ref.name} (${artifact.revision})`);
        refs.push(ref);
      }
    } finally {
      await fs.promises.rm(scratch, { recursive: true, force: true });
    }
    for (const orphan of (status.inventory ?? []).filter((old) => !refs.some((r) => r.name === old.name && r.namespace === old.namespace))) {
      await this.deleteExternalArtifact(s, orphan);
      s.event("Normal", "GarbageCollectionSucceeded", `ExternalArtifact ${orphan.namespace}/${orphan.name} deleted: no longer generated`);
    }
    status.inventory = refs;
    status.observedSourcesDigest = digest;
    removeCondition(obj, "Stalled");
    const message = `reconciliation succeeded, generated ${refs.length} artifact(s)`;
    markReady(obj, SucceededReason, message);
    if (changed.length) s.event("Normal", SucceededReason, `external artifacts reconciled: ${changed.join(", ")}`);
    s.log.info({ artifacts: refs.length, changed: changed.length, ms: Date.now() - s.startedAt }, message);
    return { requeueAfter: this.opts.intervalMs ?? 3_600_000 };
  }

  /** Each source's current artifact; a missing or not yet ready source is retried soon. */
  private async observeSources(s: Session<ArtifactGenerator>): Promise<Map<string, ObservedSource>> {
    const out = new Map<string, ObservedSource>();
    for (const ref of s.obj.spec.sources) {
      const ns = ref.namespace || s.obj.metadata.namespace!;
      const subject = `${ref.kind}/${ns}/${ref.name}`;
      let src = this.opts.cachedSource?.(ref.kind, `${ns}/${ref.name}`);
      if (!src) {
        try {
          src = await s.client.get<GeneratorSource>(generatorSourceRefs[ref.kind], ns, ref.name, { signal: s.signal });
        } catch (err) {
          if (isNotFound(err)) throw this.sourceError(`source '${subject}' not found`);
          throw this.sourceError(`unable to get source '${subject}': ${errorMessage(err)}`);
        }
      }
      const artifact = src.status?.artifact;
      if (!artifact?.url || !artifact.digest) throw this.sourceError(`source '${subject}' is not ready: it has no artifact yet`);
      out.set(ref.alias, {
        alias: ref.alias,
        subject,
        digest: artifact.digest,
        revision: artifact.revision,
        url: artifact.url,
        originRevision: artifact.metadata?.[ArtifactOriginRevisionKey],
      });
    }
    return out;
  }

  private sourceError(message: string): ReconcileError {
    return new ReconcileError(SourceFetchFailedReason, `get sources failed: ${message}`);
  }

  /** True when every inventory artifact is in storage and its ExternalArtifact still carries it. */
  private async inventoryIntact(s: Session<ArtifactGenerator>): Promise<boolean> {
    const storage = this.storage;
    for (const ref of s.obj.status?.inventory ?? []) {
      if (!storage.exists(`${storage.objectDir(ExternalArtifactKind.kind, ref.namespace, ref.name)}/${ref.filename}`)) return false;
      const ea = this.opts.cachedExternalArtifact?.(`${ref.namespace}/${ref.name}`);
      if (!ea || ea.status?.artifact?.digest !== ref.digest || ea.metadata.labels?.[ArtifactGeneratorLabel] !== s.obj.metadata.uid) return false;
    }
    return (s.obj.status?.inventory?.length ?? 0) === s.obj.spec.artifacts.length;
  }

  private async fetchSources(s: Session<ArtifactGenerator>, sources: ReadonlyMap<string, ObservedSource>, scratch: string): Promise<Map<string, string>> {
    const trees = new Map<string, string>();
    for (const src of sources.values()) {
      const dir = path.join(scratch, "sources", src.alias);
      await fs.promises.mkdir(dir, { recursive: true });
      try {
        const tgz = await downloadArtifact(src.url, src.digest, s.signal, this.opts.sourceLimits?.maxBytes, { retries: 2, firstDelayMs: 500, maxDelayMs: 2000 });
        await extractArtifact(tgz, dir, this.opts.sourceLimits);
      } catch (err) {
        throw new ReconcileError(SourceFetchFailedReason, `fetch sources failed: ${src.subject} revision ${src.revision}: ${errorMessage(err)}`, { cause: err });
      }
      trees.set(src.alias, dir);
    }
    return trees;
  }

  /** Stages, archives and stores one artifact; its revision as Flux sets it. */
  private async build(s: Session<ArtifactGenerator>, out: OutputArtifact, trees: Map<string, string>, sources: ReadonlyMap<string, ObservedSource>, scratch: string): Promise<Artifact> {
    const staging = path.join(scratch, "artifacts", out.name);
    await fs.promises.mkdir(staging, { recursive: true });
    try {
      await new ArtifactStager(trees, staging, this.opts.artifactLimits ?? defaultCopyLimits).applyAll(out.copy, s.signal);
    } catch (err) {
      if (err instanceof CopyError) throw buildFailed(`${out.name} build failed: ${err.message}`, err);
      throw err;
    }
    const storage = this.storage;
    const dir = storage.objectDir(ExternalArtifactKind.kind, s.obj.metadata.namespace!, out.name);
    const temp = await storage.tempFile(dir);
    let result: { digest: string; size: number };
    try {
      result = await writeArchive(staging, new IgnoreMatcher(), temp);
    } catch (err) {
      await storage.discard(temp);
      throw new ReconcileError("StorageOperationFailed", `${out.name}: unable to archive the artifact: ${errorMessage(err)}`, { cause: err });
    }
    const rel = `${dir}/${result.digest.replace(/^sha256:/, "")}.tar.gz`;
    await storage.commit(temp, rel);
    await storage.touch(rel);
    const removed = await storage.garbageCollect(dir, rel).catch(() => []);
    if (removed.length) s.log.info({ removed }, "garbage collected superseded artifacts");
    return {
      path: rel,
      url: storage.url(rel),
      digest: result.digest,
      size: result.size,
      lastUpdateTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      ...artifactRevisions(out, result.digest, sources),
    };
  }

  /** Applies the ExternalArtifact (refusing one another producer owns), then writes its status. */
  private async applyExternalArtifact(s: Session<ArtifactGenerator>, out: OutputArtifact, artifact: Artifact): Promise<ExternalArtifactReference> {
    const { obj } = s;
    const ns = obj.metadata.namespace!;
    const client: KubeClient = s.client;
    const ref = ExternalArtifactKind.resource;
    const existing = this.opts.cachedExternalArtifact?.(`${ns}/${out.name}`) ?? (await client.get<ExternalArtifact>(ref, ns, out.name, { signal: s.signal }).catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err))));
    const owner = existing?.metadata.labels?.[ArtifactGeneratorLabel];
    if (existing && owner !== obj.metadata.uid) {
      throw new ReconcileError(GeneratorValidationFailedReason, `ExternalArtifact ${ns}/${out.name} exists and is not generated by this ArtifactGenerator${owner ? "" : ` (it has no ${ArtifactGeneratorLabel} label)`}: rename the artifact or delete that object`, { stalled: true });
    }
    const labels = { ...obj.spec.commonMetadata?.labels, "app.kubernetes.io/managed-by": SourceWatcherName, [ArtifactGeneratorLabel]: obj.metadata.uid! };
    const annotations = obj.spec.commonMetadata?.annotations;
    const applied = await client.apply<ExternalArtifact>(
      ref,
      {
        apiVersion: ExternalArtifactKind.apiVersion,
        kind: ExternalArtifactKind.kind,
        metadata: { name: out.name, namespace: ns, labels, ...(annotations && Object.keys(annotations).length ? { annotations } : {}) },
        spec: { sourceRef: { apiVersion: ArtifactGeneratorKind.apiVersion, kind: ArtifactGeneratorKind.kind, name: obj.metadata.name, namespace: ns } },
      } as ExternalArtifact,
      SourceWatcherName,
      { signal: s.signal },
    );
    const current = applied.object.status;
    const ready = current?.conditions?.find((c) => c.type === ReadyCondition);
    if (current?.artifact?.digest !== artifact.digest || current?.artifact?.revision !== artifact.revision || ready?.status !== "True") {
      const status = {
        observedGeneration: applied.object.metadata.generation,
        artifact,
        conditions: [{ type: ReadyCondition, status: "True", reason: SucceededReason, message: `Artifact is ready: ${artifact.revision}`, observedGeneration: applied.object.metadata.generation, lastTransitionTime: artifact.lastUpdateTime }],
      };
      await client.patch(ref, ns, out.name, { status }, { subresource: "status", signal: s.signal });
    }
    return { name: out.name, namespace: ns, digest: artifact.digest!, filename: path.posix.basename(artifact.path) };
  }

  /** Deletes a generated ExternalArtifact (only when this generator made it) and its stored artifacts. */
  private async deleteExternalArtifact(s: Session<ArtifactGenerator>, ref: ExternalArtifactReference): Promise<void> {
    try {
      const ea = await s.client.get<ExternalArtifact>(ExternalArtifactKind.resource, ref.namespace, ref.name, { signal: s.signal });
      if (ea.metadata.labels?.[ArtifactGeneratorLabel] === s.obj.metadata.uid) await s.client.delete(ExternalArtifactKind.resource, ref.namespace, ref.name, { signal: s.signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await this.storage.removeDir(this.storage.objectDir(ExternalArtifactKind.kind, ref.namespace, ref.name));
  }
}
