package main

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// slimFromYAML builds an object as the watch cache keeps it: parsed, then slimmed by its kind's transform.
func slimFromYAML(t *testing.T, doc string) runtime.Object {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("bad test object: %v", err)
	}
	wk, ok := watchedKinds[u.GroupVersionKind().GroupKind()]
	if !ok {
		t.Fatalf("%s is not a watched kind", u.GetKind())
	}
	obj, err := slimObject(wk)(u)
	if err != nil {
		t.Fatalf("slim: %v", err)
	}
	again, err := slimObject(wk)(obj)
	if err != nil || again != obj {
		t.Fatalf("the transform must leave a slim object as it is")
	}
	return obj.(runtime.Object)
}

type readyCase struct {
	name string
	doc  string
	jobs bool
	// want: "" ready, else a part of the reason it is not; wantErr: a part of the error.
	want    string
	wantErr string
}

func runReadyCases(t *testing.T, cases []readyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			why, err := readiness(slimFromYAML(t, c.doc), c.jobs)
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want error containing %q, got %v (not ready: %q)", c.wantErr, err, why)
				}
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want == "" && why != "":
				t.Fatalf("want ready, got not ready: %s", why)
			case c.want != "" && !strings.Contains(string(why), c.want):
				t.Fatalf("want not ready with %q, got %q", c.want, why)
			}
		})
	}
}

const deploymentHead = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps, generation: 2, labels: {helm.toolkit.fluxcd.io/name: web}}
`

func TestDeploymentReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"generation not observed", deploymentHead + `spec: {replicas: 1}
status: {observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1}`, false, "generation 2 not yet observed", ""},
		{"rolled out", deploymentHead + `spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3}`, false, "", ""},
		{"pod not available", deploymentHead + `spec: {replicas: 1, strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}}
status: {observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 0}`, false, "0 of 1 updated replicas available", ""},
		{"an old pod does not stand in for a new one", deploymentHead + `spec: {replicas: 1}
status: {observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 1}`, false, "0 of 1 updated replicas available (1 needed)", ""},
		{"new pods available while an old one terminates", deploymentHead + `spec: {replicas: 4}
status: {observedGeneration: 2, replicas: 5, updatedReplicas: 4, availableReplicas: 5}`, false, "", ""},
		{"replicas not updated", deploymentHead + `spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 2}`, false, "1 of 2 replicas updated", ""},
		{"default maxUnavailable 25% of 4 allows one", deploymentHead + `spec: {replicas: 4}
status: {observedGeneration: 2, updatedReplicas: 4, availableReplicas: 3}`, false, "", ""},
		{"default maxUnavailable 25% of 4 allows only one", deploymentHead + `spec: {replicas: 4}
status: {observedGeneration: 2, updatedReplicas: 4, availableReplicas: 2}`, false, "2 of 4 updated replicas available (3 needed)", ""},
		{"maxUnavailable and maxSurge both 0 still allows one", deploymentHead + `spec: {replicas: 2, strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 0}}}
status: {observedGeneration: 2, updatedReplicas: 2, availableReplicas: 1}`, false, "", ""},
		{"Recreate needs all", deploymentHead + `spec: {replicas: 4, strategy: {type: Recreate}}
status: {observedGeneration: 2, updatedReplicas: 4, availableReplicas: 3}`, false, "3 of 4 updated replicas available", ""},
		{"paused is ready", deploymentHead + `spec: {replicas: 1, paused: true}
status: {observedGeneration: 2}`, false, "", ""},
		{"replicas default to one", deploymentHead + `spec: {}
status: {observedGeneration: 2, updatedReplicas: 0}`, false, "0 of 1 replicas updated", ""},
	})
}

const statefulSetHead = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: apps, generation: 1}
`

func TestStatefulSetReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"ready", statefulSetHead + `spec: {replicas: 2}
status: {observedGeneration: 1, updatedReplicas: 2, readyReplicas: 2, currentRevision: r2, updateRevision: r2}`, false, "", ""},
		{"generation not observed", statefulSetHead + `spec: {replicas: 2}
status: {observedGeneration: 0}`, false, "not yet observed", ""},
		{"not all ready", statefulSetHead + `spec: {replicas: 2}
status: {observedGeneration: 1, updatedReplicas: 2, readyReplicas: 1, currentRevision: r2, updateRevision: r2}`, false, "1 of 2 replicas ready", ""},
		{"not all updated", statefulSetHead + `spec: {replicas: 3}
status: {observedGeneration: 1, updatedReplicas: 1, readyReplicas: 3, currentRevision: r1, updateRevision: r2}`, false, "1 of 3 replicas updated", ""},
		{"partition: only the pods above it are updated", statefulSetHead + `spec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}
status: {observedGeneration: 1, updatedReplicas: 1, readyReplicas: 3, currentRevision: r1, updateRevision: r2}`, false, "", ""},
		{"partition: updated pods missing", statefulSetHead + `spec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}}
status: {observedGeneration: 1, updatedReplicas: 1, readyReplicas: 3, currentRevision: r1, updateRevision: r2}`, false, "1 of 2 replicas updated", ""},
		{"revision not rolled out", statefulSetHead + `spec: {replicas: 1}
status: {observedGeneration: 1, updatedReplicas: 1, readyReplicas: 1, currentRevision: r1, updateRevision: r2}`, false, "rolling out revision r2", ""},
		{"OnDelete only needs ready pods", statefulSetHead + `spec: {replicas: 1, updateStrategy: {type: OnDelete}}
status: {observedGeneration: 1, updatedReplicas: 0, readyReplicas: 1, currentRevision: r1, updateRevision: r2}`, false, "", ""},
	})
}

const daemonSetHead = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: apps, generation: 1}
`

func TestDaemonSetReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"ready", daemonSetHead + `status: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3}`, false, "", ""},
		{"default maxUnavailable 1", daemonSetHead + `status: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2}`, false, "", ""},
		{"too few available", daemonSetHead + `spec: {updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0}}}
status: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2}`, false, "2 of 3 pods available (3 needed)", ""},
		{"percent rounds up", daemonSetHead + `spec: {updateStrategy: {rollingUpdate: {maxUnavailable: "10%"}}}
status: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2}`, false, "", ""},
		{"not updated", daemonSetHead + `status: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 3}`, false, "1 of 3 scheduled pods updated", ""},
		{"OnDelete", daemonSetHead + `spec: {updateStrategy: {type: OnDelete}}
status: {observedGeneration: 1, desiredNumberScheduled: 3}`, false, "", ""},
	})
}

func TestReplicaSetAndReplicationControllerReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"ReplicaSet ready", `{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: rs, generation: 1}, spec: {replicas: 2}, status: {observedGeneration: 1, readyReplicas: 2}}`, false, "", ""},
		{"ReplicaSet not ready", `{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: rs, generation: 1}, spec: {replicas: 2}, status: {observedGeneration: 1, readyReplicas: 1}}`, false, "1 of 2 replicas ready", ""},
		{"ReplicationController ready", `{apiVersion: v1, kind: ReplicationController, metadata: {name: rc, generation: 1}, spec: {replicas: 1}, status: {observedGeneration: 1, readyReplicas: 1}}`, false, "", ""},
		{"ReplicationController not ready", `{apiVersion: v1, kind: ReplicationController, metadata: {name: rc, generation: 1}, spec: {replicas: 1}, status: {observedGeneration: 1}}`, false, "0 of 1 replicas ready", ""},
	})
}

func TestPodReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"Ready", `{apiVersion: v1, kind: Pod, metadata: {name: p}, status: {phase: Running, conditions: [{type: Ready, status: "True"}]}}`, false, "", ""},
		{"Succeeded", `{apiVersion: v1, kind: Pod, metadata: {name: p}, status: {phase: Succeeded, conditions: [{type: Ready, status: "False"}]}}`, false, "", ""},
		{"not Ready", `{apiVersion: v1, kind: Pod, metadata: {name: p}, status: {phase: Running, conditions: [{type: Ready, status: "False", message: "containers with unready status: [app]"}]}}`, false, "not Ready: containers with unready status", ""},
		{"pending", `{apiVersion: v1, kind: Pod, metadata: {name: p}, status: {}}`, false, "pod is Pending", ""},
	})
}

func TestJobReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"running Job ready without waitForJobs", `{apiVersion: batch/v1, kind: Job, metadata: {name: j}, status: {active: 1}}`, false, "", ""},
		{"running Job", `{apiVersion: batch/v1, kind: Job, metadata: {name: j}, spec: {completions: 2}, status: {succeeded: 1}}`, true, "1 of 2 completions succeeded", ""},
		{"complete Job", `{apiVersion: batch/v1, kind: Job, metadata: {name: j}, status: {succeeded: 1, conditions: [{type: Complete, status: "True"}]}}`, true, "", ""},
		{"failed Job", `{apiVersion: batch/v1, kind: Job, metadata: {name: j, namespace: apps}, status: {failed: 1, conditions: [{type: Failed, status: "True", reason: BackoffLimitExceeded, message: "Job has reached the specified backoff limit"}]}}`, true, "", "job apps/j failed: BackoffLimitExceeded: Job has reached the specified backoff limit"},
	})
}

func TestPersistentVolumeClaimReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"Bound", `{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: c}, status: {phase: Bound}}`, false, "", ""},
		{"Pending", `{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: c}, status: {phase: Pending}}`, false, "claim is Pending, not Bound", ""},
	})
}

func TestServiceReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"ClusterIP assigned", `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: ClusterIP, clusterIP: 10.0.0.1}}`, false, "", ""},
		{"no ClusterIP", `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: ClusterIP}}`, false, "no cluster IP assigned", ""},
		{"headless", `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {clusterIP: None}}`, false, "", ""},
		{"ExternalName", `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: ExternalName, externalName: example.test}}`, false, "", ""},
		{"LoadBalancer without ingress", `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: LoadBalancer, clusterIP: 10.0.0.1}}`, false, "load balancer has no ingress yet", ""},
		{"LoadBalancer with ingress", `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: LoadBalancer, clusterIP: 10.0.0.1}, status: {loadBalancer: {ingress: [{ip: 192.0.2.1}]}}}`, false, "", ""},
		{"LoadBalancer with external IPs", `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: LoadBalancer, clusterIP: 10.0.0.1, externalIPs: [192.0.2.2]}}`, false, "", ""},
	})
}

func TestCustomResourceDefinitionReadiness(t *testing.T) {
	runReadyCases(t, []readyCase{
		{"Established", `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.test}, status: {conditions: [{type: NamesAccepted, status: "True"}, {type: Established, status: "True"}]}}`, false, "", ""},
		{"not Established", `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.test}, status: {conditions: [{type: Established, status: "False"}]}}`, false, "not Established", ""},
	})
}

// The watch caches keep only what the rules read: no pod template, no container statuses.
func TestSlimKeepsOnlyWhatReadinessReads(t *testing.T) {
	d := slimFromYAML(t, deploymentHead+`spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: example.test/web:1}]}
status: {observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2}`).(*appsv1.Deployment)
	if len(d.Spec.Template.Spec.Containers) != 0 || d.Spec.Selector != nil {
		t.Fatalf("the pod template and selector must not be kept: %+v", d.Spec)
	}
	if d.Name != "web" || d.Namespace != "apps" || d.Generation != 2 || d.Labels[releaseLabel] != "web" || *d.Spec.Replicas != 2 || d.Status.AvailableReplicas != 2 {
		t.Fatalf("what the rules read must be kept: %+v", d)
	}
	p := slimFromYAML(t, `{apiVersion: v1, kind: Pod, metadata: {name: p, namespace: apps}, spec: {containers: [{name: app, image: x}]},
  status: {phase: Running, conditions: [{type: Ready, status: "True"}], containerStatuses: [{name: app, ready: true, image: x, imageID: y}]}}`).(*corev1.Pod)
	if len(p.Spec.Containers) != 0 || len(p.Status.ContainerStatuses) != 0 || p.Status.Phase != corev1.PodRunning || len(p.Status.Conditions) != 1 {
		t.Fatalf("a pod keeps only its phase and conditions: %+v", p)
	}
}
