// Shared API pieces: metav1.Condition, object references, and the Flux duration pattern.
import * as s from "./schema";
import type { ObjectMeta } from "../runtime/kube";

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
