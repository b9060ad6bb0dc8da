// The floor of a GitOps controller that keeps Flux's guarantees: per app, the requests a Kustomization needs at
// the least when its 4 objects are new, sent by a plain loop with no controller around it (no source fetch, no
// build, no watches, no events). It tells how much of Mooring's time is the apiserver work those guarantees
// cost and how much is Mooring itself.
//
// Per app, in order: create the Kustomization (as the bench does for the controllers); add the finalizer (so
// deleting it prunes what it applied); dry-run 3 objects (a stage is validated before any of it is written;
// the 4th is validated by its own apply, written first); apply the other 3; write the status (Ready, inventory).
import type { KubeClient, KubeObject } from "../controllers/runtime/kube";
import { updateStatus } from "../controllers/runtime/status";
import { inventoryOf } from "../controllers/kustomize/inventory";
import { KustomizeFinalizer } from "../controllers/kustomize/reconciler";
import { pool, refFor, refs } from "./cluster";
import * as w from "./workload";

const fieldManager = "bench-gitops-floor";

/** What a Kustomization's status looks like once its objects are applied (as Mooring writes it). */
function readyStatus(k: KubeObject, objects: w.Manifest[], revision: string): Record<string, unknown> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const condition = (type: string) => ({ type, status: "True", reason: "ReconciliationSucceeded", message: `Applied revision: ${revision}`, lastTransitionTime: now, observedGeneration: k.metadata.generation });
  return {
    observedGeneration: k.metadata.generation,
    lastAppliedRevision: revision,
    lastAttemptedRevision: revision,
    conditions: [condition("Ready"), condition("Healthy")],
    inventory: { entries: inventoryOf(objects) },
  };
}

/** Runs the loop for apps 1..n, `limit` apps in flight. */
export async function runGitopsFloor(client: KubeClient, n: number, limit: number, revision: string): Promise<void> {
  const indices = Array.from({ length: n }, (_, i) => i + 1);
  await pool(indices, limit, async (i) => {
    const created = await client.create<KubeObject>(refs.kustomization, w.sourceNamespace, w.kustomization(i, { interval: "10m" }));
    const k = await client.patch<KubeObject>(refs.kustomization, w.sourceNamespace, created.metadata.name, {
      metadata: { finalizers: [KustomizeFinalizer], resourceVersion: created.metadata.resourceVersion },
    });
    const objects = w.floorObjects(i);
    const first = objects[objects.length - 1]!;
    const rest = objects.slice(0, -1);
    const ssa = (o: KubeObject, dryRun: boolean) => client.apply(refFor(o.apiVersion, o.kind), o, fieldManager, { dryRun, timeoutMs: 60_000 });
    await Promise.all(rest.map((o) => ssa(o, true)));
    await ssa(first, false);
    await Promise.all(rest.map((o) => ssa(o, false)));
    await updateStatus(client, refs.kustomization, { ...k, status: readyStatus(k, objects, revision) });
  });
}
