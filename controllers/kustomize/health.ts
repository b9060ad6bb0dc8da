// Health of applied objects, after kstatus: Current (ready), InProgress, Failed — from the object's own
// status, by kind, with generic rules (observedGeneration, Ready/Stalled/Reconciling conditions) for the rest;
// spec.healthCheckExprs, when given for the object's kind, decide instead.
import { healthByExprs, type HealthExprs } from "./cel";

export type HealthStatus = "Current" | "InProgress" | "Failed" | "NotFound";

export interface Health {
  status: HealthStatus;
  message: string;
}

interface Cond {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

type Obj = { apiVersion?: string; kind?: string; metadata?: { generation?: number; deletionTimestamp?: string }; spec?: Record<string, unknown>; status?: Record<string, unknown> };

const num = (v: unknown, d = 0): number => (typeof v === "number" ? v : d);
const cond = (o: Obj, type: string): Cond | undefined => ((o.status?.conditions as Cond[] | undefined) ?? []).find((c) => c.type === type);
const current = (message = "Resource is current"): Health => ({ status: "Current", message });
const progressing = (message: string): Health => ({ status: "InProgress", message });
const failed = (message: string): Health => ({ status: "Failed", message });

/** The object's health: by `exprs` (its kind's spec.healthCheckExprs entry) when given, else by the built-in rules. */
export function healthOf(o: Obj, exprs?: HealthExprs): Health {
  if (exprs) return healthByExprs(exprs, o as Record<string, unknown>);
  if (o.metadata?.deletionTimestamp) return progressing("Resource is being deleted");
  const gen = o.metadata?.generation;
  const observed = o.status?.observedGeneration;
  if (typeof gen === "number" && typeof observed === "number" && observed < gen) return progressing(`generation ${gen} not yet observed (observed ${observed})`);
  switch (o.kind) {
    case "Deployment":
      return deployment(o);
    case "StatefulSet":
      return statefulSet(o);
    case "DaemonSet":
      return daemonSet(o);
    case "ReplicaSet":
      return replicas(o, "ReplicaSet");
    case "Job":
      return job(o);
    case "PersistentVolumeClaim":
      return o.status?.phase === "Bound" ? current("PVC is Bound") : progressing(`PVC is ${String(o.status?.phase ?? "Pending")}`);
    case "Service":
      return service(o);
    case "CustomResourceDefinition":
      return crd(o);
    case "Namespace":
      return o.status?.phase === "Active" || o.status?.phase === undefined ? current("Namespace is Active") : progressing(`Namespace is ${String(o.status.phase)}`);
    case "Pod":
      return pod(o);
  }
  return generic(o);
}

/**
 * Flux kinds whose controllers always report Ready: until their controller has observed them they are not
 * current, so `wait` and dependents never run ahead of a release or source that was just applied.
 */
const reconciledFluxKinds = new Set([
  "source.toolkit.fluxcd.io/GitRepository",
  "source.toolkit.fluxcd.io/OCIRepository",
  "source.toolkit.fluxcd.io/HelmChart",
  "source.toolkit.fluxcd.io/Bucket",
  "source.toolkit.fluxcd.io/HelmRepository",
  "kustomize.toolkit.fluxcd.io/Kustomization",
  "helm.toolkit.fluxcd.io/HelmRelease",
  "source.extensions.fluxcd.io/ArtifactGenerator",
]);

function unobservedFluxObject(o: Obj): boolean {
  const group = o.apiVersion?.split("/")[0] ?? "";
  if (!reconciledFluxKinds.has(`${group}/${o.kind}`)) return false;
  if (o.spec?.suspend === true) return false;
  // An OCI HelmRepository is a static object: no controller writes its status.
  if (o.kind === "HelmRepository" && o.spec?.type === "oci") return false;
  return o.status?.observedGeneration === undefined && cond(o, "Ready") === undefined;
}

function generic(o: Obj): Health {
  if (unobservedFluxObject(o)) return progressing(`generation ${o.metadata?.generation ?? 1} not yet observed by its controller`);
  const stalled = cond(o, "Stalled");
  if (stalled?.status === "True") return failed(stalled.message || stalled.reason || "Stalled");
  const ready = cond(o, "Ready");
  if (ready) {
    if (ready.status === "True") return current(ready.message || "Ready");
    if (ready.status === "False" && o.apiVersion?.includes("toolkit.fluxcd.io") && cond(o, "Reconciling")?.status !== "True") return failed(ready.message || ready.reason || "not Ready");
    return progressing(ready.message || `Ready=${ready.status}`);
  }
  const reconciling = cond(o, "Reconciling");
  if (reconciling?.status === "True") return progressing(reconciling.message || "Reconciling");
  return current();
}

function deployment(o: Obj): Health {
  const want = num(o.spec?.replicas, 1);
  const s = o.status ?? {};
  const prog = cond(o, "Progressing");
  if (prog?.status === "False" && prog.reason === "ProgressDeadlineExceeded") return failed(`Progress deadline exceeded`);
  if (o.spec?.paused) return progressing("Deployment is paused");
  const updated = num(s.updatedReplicas);
  const ready = num(s.readyReplicas);
  const available = num(s.availableReplicas);
  const total = num(s.replicas);
  if (updated < want) return progressing(`Updated: ${updated}/${want}`);
  if (total > updated) return progressing(`Pending termination: ${total - updated}`);
  if (available < want) return progressing(`Available: ${available}/${want}`);
  if (ready < want) return progressing(`Ready: ${ready}/${want}`);
  return current(`Deployment is available. Replicas: ${total}`);
}

function statefulSet(o: Obj): Health {
  const want = num(o.spec?.replicas, 1);
  const s = o.status ?? {};
  if (num(s.readyReplicas) < want) return progressing(`Ready: ${num(s.readyReplicas)}/${want}`);
  const strategy = (o.spec?.updateStrategy as { type?: string } | undefined)?.type ?? "RollingUpdate";
  if (strategy === "RollingUpdate") {
    if (num(s.updatedReplicas) < want) return progressing(`Updated: ${num(s.updatedReplicas)}/${want}`);
    if (s.updateRevision && s.currentRevision !== s.updateRevision) return progressing(`Waiting for revision ${String(s.updateRevision)}`);
  }
  return current(`All replicas scheduled as expected. Replicas: ${want}`);
}

function daemonSet(o: Obj): Health {
  const s = o.status ?? {};
  const want = num(s.desiredNumberScheduled);
  if (num(s.updatedNumberScheduled) < want) return progressing(`Updated: ${num(s.updatedNumberScheduled)}/${want}`);
  if (num(s.numberAvailable) < want) return progressing(`Available: ${num(s.numberAvailable)}/${want}`);
  if (num(s.numberReady) < want) return progressing(`Ready: ${num(s.numberReady)}/${want}`);
  return current(`All replicas scheduled as expected. Replicas: ${want}`);
}

function replicas(o: Obj, kind: string): Health {
  const want = num(o.spec?.replicas, 1);
  const ready = num(o.status?.readyReplicas);
  return ready >= want ? current(`${kind} is available. Replicas: ${want}`) : progressing(`Ready: ${ready}/${want}`);
}

function job(o: Obj): Health {
  const f = cond(o, "Failed");
  if (f?.status === "True") return failed(`Job failed: ${f.message || f.reason || ""}`.trim());
  const c = cond(o, "Complete");
  if (c?.status === "True") return current("Job Completed");
  return progressing(`Job in progress: active ${num(o.status?.active)}, succeeded ${num(o.status?.succeeded)}`);
}

function service(o: Obj): Health {
  if (o.spec?.type !== "LoadBalancer") return current("Service is ready");
  const ingress = (o.status?.loadBalancer as { ingress?: unknown[] } | undefined)?.ingress ?? [];
  return ingress.length ? current("Service is ready") : progressing("LoadBalancer address not assigned yet");
}

function crd(o: Obj): Health {
  const names = cond(o, "NamesAccepted");
  if (names?.status === "False") return failed(`CRD names not accepted: ${names.message ?? ""}`.trim());
  return cond(o, "Established")?.status === "True" ? current("CRD is established") : progressing("CRD is not established yet");
}

function pod(o: Obj): Health {
  const phase = o.status?.phase;
  if (phase === "Succeeded") return current("Pod has completed successfully");
  if (phase === "Failed") return failed("Pod has failed");
  return cond(o, "Ready")?.status === "True" ? current("Pod is Ready") : progressing(`Pod phase ${String(phase ?? "Pending")}`);
}
