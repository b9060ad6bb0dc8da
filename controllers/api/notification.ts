// notification.toolkit.fluxcd.io — Provider and Alert (v1beta3: static objects without status, checked when an
// event is dispatched) and Receiver (v1, reconciled: status.webhookPath and conditions). Field names and
// semantics follow Flux's published API.
import { createHash } from "node:crypto";
import * as s from "./schema";
import { defineKind } from "./crd";
import { durationPattern, localObjectReference, reconcileStatusFields, type TypedObject } from "./meta";

export const NotificationGroup = "notification.toolkit.fluxcd.io";
export const NotificationControllerName = "notification-controller";

/** Every Provider type Flux's v1beta3 API accepts. Mooring sends to those with a module in controllers/notification/providers. */
export const providerTypes = [
  "slack", "discord", "msteams", "rocket", "generic", "generic-hmac", "github", "gitlab", "gitea", "bitbucketserver", "bitbucket",
  "azuredevops", "googlechat", "googlepubsub", "webex", "sentry", "azureeventhub", "telegram", "lark", "matrix", "opsgenie",
  "alertmanager", "grafana", "githubdispatch", "pagerduty", "datadog", "nats", "zulip", "otel",
] as const;
export type ProviderType = (typeof providerTypes)[number];

/** The providers that set commit statuses (they get the commit_status "update" events, the others do not). */
export const commitStatusProviderTypes: readonly ProviderType[] = ["github", "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops"];

/** The kinds an Alert or Receiver may name. */
export const eventSourceKinds = [
  "Bucket", "GitRepository", "Kustomization", "HelmRelease", "HelmChart", "HelmRepository", "ImageRepository", "ImagePolicy",
  "ImageUpdateAutomation", "OCIRepository",
] as const;

const crossNamespaceReferenceFields = {
  apiVersion: s.string({ description: "API version of the referent." }),
  kind: s.enumOf(eventSourceKinds, { description: "Kind of the referent." }),
  name: s.string({ minLength: 1, maxLength: 253, description: "Name of the referent; '*' (or a name with '*' in it) matches several." }),
  namespace: s.string({ minLength: 1, maxLength: 253, description: "Namespace of the referent; default the namespace of the Alert or Receiver." }),
  matchLabels: s.map(s.string(), { description: "Labels the referents must have; only with name '*'." }),
};

export const crossNamespaceObjectReference = s.object(crossNamespaceReferenceFields, { required: ["kind", "name"], description: "A reference to a Flux object, possibly in another namespace." });
export type CrossNamespaceObjectReference = s.Infer<typeof crossNamespaceObjectReference>;

/** A Receiver's resource: a reference with its own CEL filter, which stacks with spec.resourceFilter. */
export const receiverResource = s.object(
  { ...crossNamespaceReferenceFields, filter: s.string({ description: "CEL expression (a bool over 'res' and 'req', as resourceFilter) selecting which of this entry's objects are reconciled." }) },
  { required: ["kind", "name"], description: "A reference to the Flux objects a Receiver reconciles, possibly in another namespace." },
);
export type ReceiverResource = s.Infer<typeof receiverResource>;

export const providerSpec = s.object(
  {
    type: s.enumOf(providerTypes, { description: "Type of the provider." }),
    interval: s.string({ pattern: durationPattern, description: "Deprecated, ignored (static object)." }),
    channel: s.string({ maxLength: 2048, description: "Channel to post to (Slack, Rocket, Discord, …); for alertmanager and others unused." }),
    username: s.string({ maxLength: 2048, description: "Bot username to post as." }),
    address: s.string({ maxLength: 2048, description: "HTTP/S address of the provider API or webhook; a secretRef 'address' key wins over it." }),
    timeout: s.string({ pattern: "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$", description: "Timeout of a request to the provider; default 15s." }),
    proxy: s.string({ pattern: "^(http|https)://.*$", maxLength: 2048, description: "Deprecated: use proxySecretRef." }),
    proxySecretRef: s.object({ name: s.string() }, { required: ["name"], description: "Secret with 'address' (and optional 'username', 'password') of an HTTP/S proxy." }),
    secretRef: s.object({ name: s.string() }, { required: ["name"], description: "Secret with 'address', 'token', 'username', 'password' or 'headers' (YAML map) for the provider." }),
    serviceAccountName: s.string({ description: "ServiceAccount for workload identity (not supported by Mooring yet)." }),
    certSecretRef: s.object({ name: s.string() }, { required: ["name"], description: "Secret with 'ca.crt' (and optional 'tls.crt'/'tls.key') for the TLS connection to the provider." }),
    suspend: s.boolean({ description: "Stops sending events to this provider." }),
    commitStatusExpr: s.string({ description: "CEL expression (a string over 'event', 'alert' and 'provider') making the commit status id of commit-status providers." }),
  },
  { required: ["type"], description: "ProviderSpec defines how to reach a notification service." },
);
export type ProviderSpec = s.Infer<typeof providerSpec>;

export const ProviderKind = defineKind({
  group: NotificationGroup,
  version: "v1beta3",
  kind: "Provider",
  plural: "providers",
  singular: "provider",
  description: "Provider is the Schema for the providers API.",
  spec: providerSpec,
  printerColumns: [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }],
});
export type Provider = TypedObject<ProviderSpec, never>;

export const alertSpec = s.object(
  {
    providerRef: localObjectReference,
    eventSeverity: s.enumOf(["info", "error"] as const, { default: "info", description: "Severity to send: 'info' sends every event, 'error' only errors." }),
    eventSources: s.array(crossNamespaceObjectReference, { description: "The objects whose events are sent." }),
    inclusionList: s.array(s.string(), { description: "Regular expressions; when set, only events whose message matches one are sent." }),
    eventMetadata: s.map(s.string(), { description: "Metadata added to the events; a key the event already has keeps its value." }),
    exclusionList: s.array(s.string(), { description: "Regular expressions; events whose message matches one are not sent." }),
    summary: s.string({ maxLength: 255, description: "Deprecated: use eventMetadata.summary." }),
    suspend: s.boolean({ description: "Stops sending events for this alert." }),
  },
  { required: ["providerRef", "eventSources"], description: "AlertSpec defines which events go to a provider." },
);
export type AlertSpec = s.Infer<typeof alertSpec>;

export const AlertKind = defineKind({
  group: NotificationGroup,
  version: "v1beta3",
  kind: "Alert",
  plural: "alerts",
  singular: "alert",
  description: "Alert is the Schema for the alerts API.",
  spec: alertSpec,
  printerColumns: [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }],
});
export type Alert = TypedObject<AlertSpec, never>;

export const receiverTypes = ["generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor", "dockerhub", "quay", "gcr", "nexus", "acr", "cdevents"] as const;
export type ReceiverType = (typeof receiverTypes)[number];

export const receiverSpec = s.object(
  {
    type: s.enumOf(receiverTypes, { description: "Type of the incoming webhook." }),
    interval: s.string({ pattern: durationPattern, default: "10m", description: "How often the Receiver is reconciled." }),
    events: s.array(s.string(), { description: "Event types to accept (e.g. GitHub's 'push'); empty accepts all." }),
    resources: s.array(receiverResource, { description: "The objects to reconcile when a valid webhook arrives." }),
    resourceFilter: s.string({ description: "CEL expression (a bool over 'res', the resource's apiVersion, kind and metadata, and 'req', the webhook's JSON body) selecting which resources are reconciled." }),
    secretRef: localObjectReference,
    suspend: s.boolean({ description: "Stops the Receiver: webhooks are answered 404." }),
  },
  { required: ["type", "resources", "secretRef"], description: "ReceiverSpec defines the webhook and what it triggers." },
);
export type ReceiverSpec = s.Infer<typeof receiverSpec>;

export const receiverStatus = s.object(
  {
    ...reconcileStatusFields,
    webhookPath: s.string({ description: "The path of the webhook: /hook/sha256sum(token+name+namespace)." }),
  },
  { description: "ReceiverStatus records the observed state of a Receiver." },
);
export type ReceiverStatus = s.Infer<typeof receiverStatus>;

export const ReceiverKind = defineKind({
  group: NotificationGroup,
  version: "v1",
  kind: "Receiver",
  plural: "receivers",
  singular: "receiver",
  description: "Receiver is the Schema for the receivers API.",
  spec: receiverSpec,
  status: receiverStatus,
  printerColumns: [
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ],
});
export type Receiver = TypedObject<ReceiverSpec, ReceiverStatus>;

export const ReceiverWebhookPathPrefix = "/hook/";

/** The Receiver's webhook path as Flux computes it: /hook/ + hex sha256 of token, name and namespace. */
export function receiverWebhookPath(token: string, name: string, namespace: string): string {
  return `${ReceiverWebhookPathPrefix}${createHash("sha256").update(token + name + namespace).digest("hex")}`;
}

// Reasons of the Receiver's Ready condition (Flux's).
export const InitializedReason = "Initialized";
export const ValidationFailedReason = "ValidationFailed";
export const TokenNotFoundReason = "TokenNotFound";
export const InvalidCELExpressionReason = "InvalidCELExpression";

/** Event metadata keys (without the API group prefix, as the notification-controller hands them to providers). */
export const MetaRevisionKey = "revision";
export const MetaOriginRevisionKey = "originRevision";
export const MetaCommitStatusKey = "commit_status";
export const MetaCommitStatusUpdateValue = "update";
export const MetaSummaryKey = "summary";
export const MetaTokenKey = "token";
