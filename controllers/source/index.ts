// The source-controller: GitRepository reconciler + artifact storage server, wired into a Manager.
import * as fs from "node:fs";
import * as os from "node:os";
import type { Manager } from "../runtime/manager";
import { listen, parseAddr } from "../runtime/http";
import { GitRepositoryKind, type GitRepository } from "../api/source";
import { objectKey } from "../runtime/informer";
import { GitRepositoryReconciler } from "./gitrepository";
import { Storage } from "./storage";

export { GitRepositoryReconciler, SourceFinalizer, parseGitUrl } from "./gitrepository";
export { Storage } from "./storage";

export interface SourceControllerOptions {
  storagePath: string;
  /** Listen address of the artifact server, e.g. ":9090" or "127.0.0.1:0". */
  storageAddr: string;
  /** Address advertised in artifact URLs; derived from the bound address when omitted. */
  storageAdvAddr?: string;
  concurrent?: number;
  artifactsToKeep?: number;
}

export interface SourceControllerHandle {
  storage: () => Storage | undefined;
}

/** Registers the source controllers with the manager; the storage server starts with the manager. */
export function addSourceController(mgr: Manager, o: SourceControllerOptions): SourceControllerHandle {
  fs.mkdirSync(o.storagePath, { recursive: true });
  let storage: Storage | undefined;
  const informer = mgr.informer<GitRepository>(GitRepositoryKind.resource);
  const reconciler = {
    reconcile: (obj: GitRepository, ctx: Parameters<GitRepositoryReconciler["reconcile"]>[1]) => {
      if (!storage) throw new Error("artifact storage is not started");
      return new GitRepositoryReconciler({ storage, lookup: (k) => informer.get(k), metrics: mgr.metrics, artifactsToKeep: o.artifactsToKeep }).reconcile(obj, ctx);
    },
  };
  const controller = mgr.add<GitRepository>({
    name: "gitrepository",
    resource: GitRepositoryKind.resource,
    reconciler,
    concurrency: o.concurrent ?? 2,
    reconcileTimeoutMs: (obj) => {
      const t = /^(\d+)s$/.exec(obj.spec.timeout ?? "")?.[1];
      return Math.max(120_000, (t ? Number(t) * 1000 : 60_000) * 3);
    },
  });
  // An included repository's new artifact makes the repositories that include it reconcile.
  informer.on((event, obj, old) => {
    if (event !== "update" || obj.status?.artifact?.digest === old?.status?.artifact?.digest) return;
    for (const other of informer.listCached()) {
      if (other.metadata.namespace !== obj.metadata.namespace) continue;
      if ((other.spec.include ?? []).some((i) => i.repository.name === obj.metadata.name)) controller.queue.add(objectKey(other));
    }
  });
  mgr.addRunnable(async (signal) => {
    const server = new Storage(o.storagePath, "pending").server();
    const bound = await listen(server, o.storageAddr);
    const adv = o.storageAdvAddr ?? defaultAdvertisedAddr(bound);
    storage = new Storage(o.storagePath, adv);
    const removed = await storage.removeStrayTempFiles();
    mgr.log.info({ storagePath: o.storagePath, addr: bound, advertised: adv, strayTempFilesRemoved: removed }, "artifact server listening");
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { storage: () => storage };
}

function defaultAdvertisedAddr(bound: string): string {
  const { host, port } = parseAddr(bound);
  if (process.env.KUBERNETES_SERVICE_HOST) return `${os.hostname()}:${port}`;
  return host === "0.0.0.0" || host === "::" ? `localhost:${port}` : `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
