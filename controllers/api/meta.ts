// Shared API pieces: object meta, metav1.Condition, object references, Flux's duration pattern, and the
// vocabulary every Flux object shares (condition types and reasons, annotations, the finalizer).
import * as s from "./schema";

/** The metadata fields controllers read and write (a subset of metav1.ObjectMeta). */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

/** Any Kubernetes object. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

/** Where a kind lives in the REST tree. */
export interface ResourceRef {
  kind: string;
  group: string; // "" for the core group
  version: string;
  plural: string;
  namespaced: boolean;
}

// Condition types and reasons every Flux object uses (kstatus-compatible): Ready summarises, Reconciling
// while work is in progress, Stalled when retrying cannot help.
export const ReadyCondition = "Ready";
export const ReconcilingCondition = "Reconciling";
export const StalledCondition = "Stalled";
export const SucceededReason = "Succeeded";
export const FailedReason = "Failed";
export const ProgressingReason = "Progressing";
export const ProgressingWithRetryReason = "ProgressingWithRetry";

/** Set (to any new value, usually a timestamp) to ask for a reconcile now; echoed in status.lastHandledReconcileAt. */
export const ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt";
/** The finalizer Flux's controllers put on the objects they reconcile. */
export const FluxFinalizer = "finalizers.fluxcd.io";
/** The label Flux's sharding uses: controllers run with --watch-label-selector on it. */
export const ShardKeyLabel = "sharding.fluxcd.io/key";

export const durationPattern = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";

export const condition = s.object(
  {
    type: s.string({ description: "Type of condition in CamelCase.", maxLength: 316, pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$" }),
    status: s.enumOf(["True", "False", "Unknown"] as const, { description: "Status of the condition." }),
    observedGeneration: s.integer({ format: "int64", minimum: 0, description: "The .metadata.generation the condition was set from." }),
    lastTransitionTime: s.string({ format: "date-time", description: "When the condition last changed status." }),
    reason: s.string({ maxLength: 1024, minLength: 1, pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", description: "Programmatic identifier of the last transition." }),
    message: s.string({ maxLength: 32768, description: "Human-readable details of the last transition." }),
  },
  { required: ["type", "status", "lastTransitionTime", "reason", "message"], description: "A metav1.Condition." },
);

export const localObjectReference = s.object(
  { name: s.string({ description: "Name of the referent." }) },
  { required: ["name"], description: "A reference to an object in the same namespace." },
);

/** Fields every Flux object status has. */
export const reconcileStatusFields = {
  observedGeneration: s.integer({ format: "int64", description: "The last reconciled generation." }),
  conditions: s.array(condition, { description: "Conditions holds the conditions for the object." }),
  lastHandledReconcileAt: s.string({ description: "The last reconcile.fluxcd.io/requestedAt value handled." }),
};

/** A typed custom object: apiVersion/kind/metadata plus spec and status from the schema. */
export interface TypedObject<Spec, Status> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

/**
 * Label on a ConfigMap or Secret asking the controllers that use it (postBuild.substituteFrom, valuesFrom, …) to
 * reconcile when it changes; watched when its value is WatchEnabledValue.
 */
export const WatchLabel = "reconcile.fluxcd.io/watch";
export const WatchEnabledValue = "Enabled";
