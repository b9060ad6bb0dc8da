// The source-watcher: the ArtifactGenerator reconciler wired into a Manager. A source's new artifact (or a
// generated ExternalArtifact changed by someone else) makes the generators that use it reconcile at once.
// Artifacts are served over HTTP from the source-watcher's own storage, or from the source-controller's when
// both run in one process.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Manager } from "../runtime/manager";
import { listen, parseAddr } from "../runtime/http";
import { objectKey } from "../runtime/informer";
import { crds } from "../api";
import { ExternalArtifactKind, type ExternalArtifact } from "../api/source-external";
import { ArtifactGeneratorFinalizer, ArtifactGeneratorKind, ArtifactGeneratorLabel, type ArtifactGenerator } from "../api/source-extensions";
import { Storage, defaultRetention, type Retention } from "../source/storage";
import { ArtifactGeneratorReconciler, artifactGeneratorErrorPolicy, generatorSourceRefs, type GeneratorSource } from "./reconciler";

export { ArtifactGeneratorReconciler, SourceWatcherName } from "./reconciler";

export interface SourceWatcherOptions {
  /** The source-controller's storage when it runs in this process; else the source-watcher serves its own. */
  sharedStorage?: () => Storage | undefined;
  storagePath: string;
  storageAddr: string;
  storageAdvAddr?: string;
  retention?: { [K in keyof Retention]?: Retention[K] };
  concurrent?: number;
  noCrossNamespaceRefs?: boolean;
}

export interface SourceWatcherHandle {
  storage: () => Storage | undefined;
}

/** Index of ArtifactGenerators by their sources ("<kind>/<namespace>/<name>"). */
const sourcesIndex = "sources";

export function addSourceWatcher(mgr: Manager, o: SourceWatcherOptions): SourceWatcherHandle {
  let own: Storage | undefined;
  const storage = () => o.sharedStorage?.() ?? own;
  // Bucket is watched when this build serves its CRD.
  const served = new Set(crds().map((c) => (c.spec.names as { kind: string }).kind));
  const kinds = (Object.keys(generatorSourceRefs) as (keyof typeof generatorSourceRefs)[]).filter((k) => served.has(k));
  const informers = new Map(kinds.map((k) => [k, mgr.informer<GeneratorSource>(generatorSourceRefs[k])]));
  const externalArtifacts = mgr.informer<ExternalArtifact>(ExternalArtifactKind.resource);
  const builder = mgr
    .controller<ArtifactGenerator>(ArtifactGeneratorKind, { name: "artifactgenerator", concurrency: o.concurrent ?? 4, finalizer: ArtifactGeneratorFinalizer, reconcileTimeoutMs: () => 10 * 60_000 })
    .index(sourcesIndex, (ag) => ag.spec.sources.map((src) => `${src.kind}/${src.namespace || ag.metadata.namespace}/${src.name}`))
    .errorPolicy(artifactGeneratorErrorPolicy);
  for (const kind of kinds) {
    builder.watches<GeneratorSource>({ resource: generatorSourceRefs[kind] }, (src, old, event) => {
      const a = src.status?.artifact;
      const b = old?.status?.artifact;
      return event === "delete" || a?.digest !== b?.digest || a?.revision !== b?.revision ? [`${kind}/${objectKey(src)}`] : [];
    }, { via: sourcesIndex });
  }
  // A generated ExternalArtifact deleted or changed by someone else is generated again.
  builder.watches<ExternalArtifact>(ExternalArtifactKind, (ea, old, event) => {
    const uid = ea.metadata.labels?.[ArtifactGeneratorLabel];
    if (!uid || (event === "update" && old?.status?.artifact?.digest === ea.status?.artifact?.digest && old?.metadata.labels?.[ArtifactGeneratorLabel] === uid)) return [];
    const ref = ea.spec.sourceRef;
    return ref?.kind === ArtifactGeneratorKind.kind ? [`${ref.namespace || ea.metadata.namespace}/${ref.name}`] : [];
  });
  builder.complete(
    new ArtifactGeneratorReconciler({
      storage,
      cachedSource: (kind, key) => informers.get(kind as keyof typeof generatorSourceRefs)?.get(key),
      cachedExternalArtifact: (key) => externalArtifacts.get(key),
      noCrossNamespaceRefs: o.noCrossNamespaceRefs,
      tempDir: os.tmpdir(),
    }),
  );
  if (!o.sharedStorage) {
    fs.mkdirSync(o.storagePath, { recursive: true });
    mgr.addRunnable(async (signal) => {
      const server = new Storage(o.storagePath, "pending").server();
      const bound = await listen(server, o.storageAddr);
      const { host, port } = parseAddr(bound);
      const adv = o.storageAdvAddr ?? (process.env.KUBERNETES_SERVICE_HOST ? `${os.hostname()}:${port}` : `${host === "0.0.0.0" || host === "::" ? "localhost" : host}:${port}`);
      const next = new Storage(path.resolve(o.storagePath), adv, { ttlMs: o.retention?.ttlMs ?? defaultRetention.ttlMs, records: o.retention?.records ?? defaultRetention.records });
      await next.removeStrayTempFiles();
      own = next;
      mgr.log.info({ storagePath: o.storagePath, addr: bound, advertised: adv }, "source-watcher artifact server listening");
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
  }
  return { storage };
}
