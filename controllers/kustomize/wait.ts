// Health checks after apply: which objects (all applied with spec.wait, else spec.healthChecks) and polling
// them until all are Current, one Failed, or the timeout names the ones that are not.
import { isNotFound, type KubeClient } from "../runtime/kube";
import { sleep } from "../runtime/informer";
import { ReconcileError } from "../runtime/errors";
import { HealthCheckFailedReason, type Kustomization } from "../api/kustomize";
import { CelError, HealthCheckExprs, type HealthExprs } from "./cel";
import type { ChangeSet } from "./apply";
import { describeId, type Manifest, type ObjectId } from "./inventory";
import { healthOf, type Health } from "./health";
import type { RestMapper } from "./restmapper";

export interface HealthTarget {
  id: ObjectId;
  apiVersion: string;
  /** spec.healthCheckExprs for this kind: they decide its health instead of the built-in rules. */
  exprs?: HealthExprs;
}

/**
 * The objects to check: all applied (spec.wait, skipped ones left out) or spec.healthChecks, each with the
 * spec.healthCheckExprs entry for its kind. Invalid expressions fail here, before any waiting, and retrying
 * cannot help until the spec changes.
 */
export function healthTargets(ks: Kustomization, manifests: Manifest[], changes: ChangeSet): HealthTarget[] {
  const exprs = healthCheckExprsOf(ks);
  const withExprs = (t: HealthTarget): HealthTarget => {
    const e = exprs?.for(t.apiVersion, t.id.kind);
    return e ? { ...t, exprs: e } : t;
  };
  if (ks.spec.wait) {
    const skipped = new Set(changes.filter((c) => c.action === "skipped").map((c) => c.subject));
    return manifests
      .map((m) => ({ id: { namespace: m.metadata.namespace ?? "", name: m.metadata.name, group: m.apiVersion.includes("/") ? m.apiVersion.split("/")[0]! : "", kind: m.kind }, apiVersion: m.apiVersion }))
      .filter((t) => !skipped.has(describeId(t.id)))
      .map(withExprs);
  }
  return (ks.spec.healthChecks ?? []).map((h) => {
    const apiVersion = h.apiVersion ?? defaultApiVersion(h.kind);
    return withExprs({ id: { namespace: h.namespace ?? ks.spec.targetNamespace ?? ks.metadata.namespace ?? "", name: h.name, group: apiVersion.includes("/") ? apiVersion.split("/")[0]! : "", kind: h.kind }, apiVersion });
  });
}

/** spec.healthCheckExprs compiled, or undefined when there are none; invalid ones are a stalled HealthCheckFailed. */
export function healthCheckExprsOf(ks: Kustomization): HealthCheckExprs | undefined {
  const checks = ks.spec.healthCheckExprs ?? [];
  if (!checks.length) return undefined;
  try {
    return new HealthCheckExprs(checks);
  } catch (err) {
    if (err instanceof CelError) throw new ReconcileError(HealthCheckFailedReason, err.message, { stalled: true, cause: err });
    throw err;
  }
}

function defaultApiVersion(kind: string): string {
  const apps = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"];
  if (apps.includes(kind)) return "apps/v1";
  if (kind === "Job" || kind === "CronJob") return "batch/v1";
  if (kind === "Kustomization") return "kustomize.toolkit.fluxcd.io/v1";
  if (kind === "HelmRelease") return "helm.toolkit.fluxcd.io/v2";
  return "v1";
}

export interface HealthResult {
  ok: boolean;
  message: string;
  /** Set when the wait was given up because `superseded` reported a reason (e.g. a new source revision). */
  canceled?: string;
}

/**
 * Polls the targets until every one is Current; fails fast on Failed, else at the timeout naming the rest.
 * Between polls, `superseded` may end the wait early: what it returns becomes the result's `canceled`.
 */
export async function checkHealth(
  client: KubeClient,
  mapper: RestMapper,
  targets: HealthTarget[],
  o: { signal: AbortSignal; timeoutMs: number; intervalMs?: number; superseded?: () => string | undefined },
): Promise<HealthResult> {
  const started = Date.now();
  const deadline = started + o.timeoutMs;
  let pending: { t: HealthTarget; h: Health }[] = targets.map((t) => ({ t, h: { status: "InProgress", message: "not checked yet" } }));
  for (;;) {
    const next: typeof pending = [];
    for (const p of pending) {
      const h = await healthOfTarget(client, mapper, p.t, o.signal);
      if (h.status === "Failed") {
        return { ok: false, message: `health check failed after ${secs(Date.now() - started)}: ${describeId(p.t.id)} status: 'Failed': ${h.message}` };
      }
      if (h.status !== "Current") next.push({ t: p.t, h });
    }
    pending = next;
    if (!pending.length) return { ok: true, message: "all healthy" };
    const canceled = o.superseded?.();
    if (canceled) return { ok: false, canceled, message: `health check canceled after ${secs(Date.now() - started)}: ${canceled}` };
    if (Date.now() >= deadline || o.signal.aborted) {
      const list = pending.map((p) => `${describeId(p.t.id)} status: '${p.h.status}'${p.h.message ? ` (${p.h.message})` : ""}`).join(", ");
      return { ok: false, message: `health check failed after ${secs(Date.now() - started)}: timeout waiting for: [${list}]` };
    }
    await sleep(Math.min(o.intervalMs ?? 1000, Math.max(50, deadline - Date.now())), o.signal);
  }
}

async function healthOfTarget(client: KubeClient, mapper: RestMapper, t: HealthTarget, signal: AbortSignal): Promise<Health> {
  try {
    const ref = await mapper.mapping(t.apiVersion, t.id.kind, signal);
    if (!ref) return { status: "NotFound", message: `kind ${t.id.kind} in ${t.apiVersion} is not served` };
    const live = await client.get<Parameters<typeof healthOf>[0]>(ref, ref.namespaced ? t.id.namespace : undefined, t.id.name, { signal });
    return healthOf(live, t.exprs);
  } catch (err) {
    if (isNotFound(err)) return { status: "NotFound", message: "not found" };
    return { status: "InProgress", message: (err as Error).message };
  }
}

const secs = (ms: number): string => `${Math.round(ms / 1000)}s`;
