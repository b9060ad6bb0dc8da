// source.toolkit.fluxcd.io/v1 — Bucket: the objects of an S3-compatible bucket as a source. Field names,
// defaults, printer columns and semantics follow Flux's published v1 API.
import * as s from "./schema";
import { defineKind } from "./crd";
import { durationPattern, localObjectReference, reconcileStatusFields, type TypedObject } from "./meta";
import { artifact, SourceGroup, SourceVersion } from "./source";

export const bucketSpec = s.object(
  {
    provider: s.enumOf(["generic", "aws", "gcp", "azure"] as const, {
      default: "generic",
      description: "Object storage provider: 'generic' (any S3-compatible server) and 'aws' with static keys from secretRef.",
    }),
    bucketName: s.string({ description: "Name of the bucket." }),
    endpoint: s.string({ description: "Host (and port) of the S3 endpoint, without scheme, e.g. 's3.amazonaws.com' or 'minio.local:9000'." }),
    sts: s.object(
      { provider: s.enumOf(["aws", "ldap"] as const), endpoint: s.string(), secretRef: localObjectReference, certSecretRef: localObjectReference },
      { required: ["provider", "endpoint"], description: "Security Token Service for temporary credentials (not supported by Mooring yet)." },
    ),
    insecure: s.boolean({ description: "Talk to the endpoint over plain HTTP instead of HTTPS." }),
    region: s.string({ description: "Region of the bucket; default 'us-east-1' for signing." }),
    prefix: s.string({ description: "Only objects whose keys start with this prefix are fetched (server-side filter)." }),
    secretRef: localObjectReference,
    certSecretRef: localObjectReference,
    proxySecretRef: localObjectReference,
    interval: s.string({ pattern: durationPattern, description: "How often the bucket is checked for changes." }),
    timeout: s.string({ pattern: "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$", default: "60s", description: "Timeout of the fetch operations." }),
    ignore: s.string({ description: "Objects left out of the artifact, in .sourceignore format; added to the bucket's root .sourceignore." }),
    suspend: s.boolean({ description: "Suspend stops the reconciliation of this object." }),
  },
  { required: ["bucketName", "endpoint", "interval"], description: "BucketSpec specifies the bucket to fetch." },
);
export type BucketSpec = s.Infer<typeof bucketSpec>;

export const bucketStatus = s.object(
  {
    ...reconcileStatusFields,
    url: s.string({ description: "Address of the latest artifact (best effort; prefer artifact.url)." }),
    artifact,
    observedIgnore: s.string(),
  },
  { description: "BucketStatus records the observed state of a Bucket." },
);
export type BucketStatus = s.Infer<typeof bucketStatus>;

export const BucketKind = defineKind({
  group: SourceGroup,
  version: SourceVersion,
  kind: "Bucket",
  plural: "buckets",
  singular: "bucket",
  description: "Bucket is the Schema for the buckets API.",
  spec: bucketSpec,
  status: bucketStatus,
  printerColumns: [
    { name: "Endpoint", type: "string", jsonPath: ".spec.endpoint" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ],
});
export type Bucket = TypedObject<BucketSpec, BucketStatus>;

export const BucketOperationFailedReason = "BucketOperationFailed";
