import { test } from "node:test";
import * as assert from "node:assert/strict";
import { healthOf } from "../../../controllers/kustomize/health";
import { project } from "../../../controllers/kustomize/drift";

test("Deployment: Current when updated, available and ready; InProgress during rollout; Failed past the deadline", () => {
  const d = (status: Record<string, unknown>, generation = 2) => ({ kind: "Deployment", metadata: { generation }, spec: { replicas: 2 }, status: { observedGeneration: 2, ...status } });
  assert.equal(healthOf(d({ replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 })).status, "Current");
  assert.equal(healthOf(d({ replicas: 3, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 })).status, "InProgress", "old replica still terminating");
  assert.equal(healthOf(d({ replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }, 3)).status, "InProgress", "generation not observed");
  assert.equal(healthOf(d({ conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }] })).status, "Failed");
});

test("StatefulSet, DaemonSet, Job, PVC, Service, CRD, Namespace, Pod", () => {
  assert.equal(healthOf({ kind: "StatefulSet", spec: { replicas: 1 }, status: { readyReplicas: 1, updatedReplicas: 1, currentRevision: "a", updateRevision: "a" } }).status, "Current");
  assert.equal(healthOf({ kind: "StatefulSet", spec: { replicas: 1 }, status: { readyReplicas: 1, updatedReplicas: 1, currentRevision: "a", updateRevision: "b" } }).status, "InProgress");
  assert.equal(healthOf({ kind: "DaemonSet", status: { desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1, numberReady: 2 } }).status, "InProgress");
  assert.equal(healthOf({ kind: "Job", status: { conditions: [{ type: "Complete", status: "True" }] } }).status, "Current");
  assert.equal(healthOf({ kind: "Job", status: { conditions: [{ type: "Failed", status: "True", message: "BackoffLimitExceeded" }] } }).status, "Failed");
  assert.equal(healthOf({ kind: "Job", status: { active: 1 } }).status, "InProgress");
  assert.equal(healthOf({ kind: "PersistentVolumeClaim", status: { phase: "Pending" } }).status, "InProgress");
  assert.equal(healthOf({ kind: "PersistentVolumeClaim", status: { phase: "Bound" } }).status, "Current");
  assert.equal(healthOf({ kind: "Service", spec: { type: "ClusterIP" } }).status, "Current");
  assert.equal(healthOf({ kind: "Service", spec: { type: "LoadBalancer" }, status: { loadBalancer: {} } }).status, "InProgress");
  assert.equal(healthOf({ kind: "CustomResourceDefinition", status: { conditions: [{ type: "Established", status: "True" }] } }).status, "Current");
  assert.equal(healthOf({ kind: "CustomResourceDefinition", status: { conditions: [{ type: "NamesAccepted", status: "False" }] } }).status, "Failed");
  assert.equal(healthOf({ kind: "Namespace", status: { phase: "Terminating" } }).status, "InProgress");
  assert.equal(healthOf({ kind: "Pod", status: { phase: "Failed" } }).status, "Failed");
});

test("any object with Ready/Stalled conditions; plain objects are Current", () => {
  assert.equal(healthOf({ kind: "Widget", status: { conditions: [{ type: "Ready", status: "True" }] } }).status, "Current");
  assert.equal(healthOf({ kind: "Widget", status: { conditions: [{ type: "Ready", status: "False" }] } }).status, "InProgress");
  assert.deepEqual(healthOf({ kind: "Widget", status: { conditions: [{ type: "Stalled", status: "True", message: "bad spec" }] } }), { status: "Failed", message: "bad spec" });
  assert.equal(healthOf({ apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", status: { conditions: [{ type: "Ready", status: "False", message: "build failed" }] } }).status, "Failed");
  assert.equal(healthOf({ kind: "ConfigMap" }).status, "Current");
  assert.equal(healthOf({ kind: "ConfigMap", metadata: { deletionTimestamp: "x" } }).status, "InProgress");
});

test("a Flux object its controller has not observed yet is InProgress, unless suspended or static (OCI HelmRepository)", () => {
  const hr = { apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease", metadata: { generation: 1 } };
  assert.equal(healthOf(hr).status, "InProgress");
  assert.match(healthOf(hr).message, /not yet observed by its controller/);
  assert.equal(healthOf({ ...hr, status: { observedGeneration: 1, conditions: [{ type: "Ready", status: "True" }] } }).status, "Current");
  assert.equal(healthOf({ ...hr, spec: { suspend: true } }).status, "Current");
  assert.equal(healthOf({ apiVersion: "source.toolkit.fluxcd.io/v1", kind: "OCIRepository", metadata: { generation: 1 }, spec: {} }).status, "InProgress");
  assert.equal(healthOf({ apiVersion: "source.toolkit.fluxcd.io/v1", kind: "HelmRepository", metadata: { generation: 1 }, spec: { type: "oci" } }).status, "Current");
  assert.equal(healthOf({ apiVersion: "notification.toolkit.fluxcd.io/v1beta3", kind: "Alert", metadata: { generation: 1 } }).status, "Current", "Alerts have no status in Flux");
});

test("drift projection keeps only the fields the manifest sets", () => {
  const desired = { spec: { replicas: 2, template: { spec: { containers: [{ name: "a", image: "x" }] } } } };
  const live = { spec: { replicas: 5, strategy: {}, template: { spec: { containers: [{ name: "a", image: "x", imagePullPolicy: "Always" }], dnsPolicy: "ClusterFirst" } } }, status: { ready: 1 } };
  assert.deepEqual(project(live, desired), { spec: { replicas: 5, template: { spec: { containers: [{ name: "a", image: "x" }] } } } });
  assert.deepEqual(project({ a: [1, 2, 3] }, { a: [1, 2] }), { a: [1, 2, 3] }, "a list of another length is compared whole");
  assert.deepEqual(project({ metadata: { annotations: { x: "1" } } }, { metadata: { annotations: undefined } }), { metadata: { annotations: undefined } });
});
