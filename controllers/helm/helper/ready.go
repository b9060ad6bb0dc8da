package main

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Readiness of the objects a release waits for, as Helm documents --wait: Pods, PersistentVolumeClaims and
// Services ready, Deployments, StatefulSets, DaemonSets, ReplicaSets and ReplicationControllers with their
// minimum number of Pods ready, Jobs complete (only when waiting for jobs), CustomResourceDefinitions
// established. Every other kind is ready once it exists.

// watchedKind is a kind whose readiness needs its status: the resource its informer lists and a function
// that keeps only the fields the rule reads.
type watchedKind struct {
	gvr  schema.GroupVersionResource
	slim func(u map[string]any) (runtime.Object, error)
}

var watchedKinds = map[schema.GroupKind]watchedKind{
	{Group: "apps", Kind: "Deployment"}:                               {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, slimAs[appsv1.Deployment]("replicas", "paused", "strategy")},
	{Group: "apps", Kind: "StatefulSet"}:                              {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, slimAs[appsv1.StatefulSet]("replicas", "updateStrategy")},
	{Group: "apps", Kind: "DaemonSet"}:                                {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}, slimAs[appsv1.DaemonSet]("updateStrategy")},
	{Group: "apps", Kind: "ReplicaSet"}:                               {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, slimAs[appsv1.ReplicaSet]("replicas")},
	{Group: "", Kind: "ReplicationController"}:                        {schema.GroupVersionResource{Version: "v1", Resource: "replicationcontrollers"}, slimAs[corev1.ReplicationController]("replicas")},
	{Group: "", Kind: "Pod"}:                                          {schema.GroupVersionResource{Version: "v1", Resource: "pods"}, slimAs[corev1.Pod]()},
	{Group: "batch", Kind: "Job"}:                                     {schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, slimAs[batchv1.Job]("completions", "parallelism")},
	{Group: "", Kind: "PersistentVolumeClaim"}:                        {schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, slimAs[corev1.PersistentVolumeClaim]()},
	{Group: "", Kind: "Service"}:                                      {schema.GroupVersionResource{Version: "v1", Resource: "services"}, slimAs[corev1.Service]("type", "clusterIP", "externalName", "externalIPs")},
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: {schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}, slimAs[apiextv1.CustomResourceDefinition]()},
}

// podStatusFields are the only parts of a Pod's status kept: its containers' statuses are most of its size.
var podStatusFields = []string{"phase", "conditions"}

// slimAs keeps metadata that names the object, the given spec fields and the status (for Pods only their
// phase and conditions), and converts the rest into T.
func slimAs[T any, PT interface {
	*T
	runtime.Object
}](specFields ...string) func(u map[string]any) (runtime.Object, error) {
	return func(u map[string]any) (runtime.Object, error) {
		out := map[string]any{}
		if md, ok := u["metadata"].(map[string]any); ok {
			m := map[string]any{}
			for _, k := range []string{"name", "namespace", "uid", "generation", "labels", "ownerReferences", "resourceVersion"} {
				if v, ok := md[k]; ok {
					m[k] = v
				}
			}
			out["metadata"] = m
		}
		if spec, ok := u["spec"].(map[string]any); ok && len(specFields) > 0 {
			s := map[string]any{}
			for _, k := range specFields {
				if v, ok := spec[k]; ok {
					s[k] = v
				}
			}
			out["spec"] = s
		}
		if st, ok := u["status"].(map[string]any); ok {
			if _, isPod := any(new(T)).(*corev1.Pod); isPod {
				s := map[string]any{}
				for _, k := range podStatusFields {
					if v, ok := st[k]; ok {
						s[k] = v
					}
				}
				st = s
			}
			out["status"] = st
		}
		obj := PT(new(T))
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(out, obj); err != nil {
			return nil, err
		}
		return obj, nil
	}
}

// slimObject is the informer's transform: unstructured objects of a watched kind become small typed ones.
func slimObject(kind watchedKind) func(any) (any, error) {
	return func(obj any) (any, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return obj, nil // already slim, or a deletion tombstone
		}
		return kind.slim(u.Object)
	}
}

// notReady explains why an object is not ready yet.
type notReady string

// jobFailed is the error of a Job that failed while the release waited for it.
type jobFailed struct{ name, why string }

func (e *jobFailed) Error() string { return fmt.Sprintf("job %s failed: %s", e.name, e.why) }

// readiness returns "" when obj is ready, else why not; an error when it never will be (a failed Job).
func readiness(obj runtime.Object, waitForJobs bool) (notReady, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return deploymentReady(o), nil
	case *appsv1.StatefulSet:
		return statefulSetReady(o), nil
	case *appsv1.DaemonSet:
		return daemonSetReady(o), nil
	case *appsv1.ReplicaSet:
		return replicasReady(o.Generation, o.Status.ObservedGeneration, o.Spec.Replicas, o.Status.ReadyReplicas), nil
	case *corev1.ReplicationController:
		return replicasReady(o.Generation, o.Status.ObservedGeneration, o.Spec.Replicas, o.Status.ReadyReplicas), nil
	case *corev1.Pod:
		return podReady(o), nil
	case *batchv1.Job:
		if !waitForJobs {
			return "", nil
		}
		return jobReady(o)
	case *corev1.PersistentVolumeClaim:
		if o.Status.Phase != corev1.ClaimBound {
			return notReady(fmt.Sprintf("claim is %s, not Bound", phaseOr(string(o.Status.Phase)))), nil
		}
		return "", nil
	case *corev1.Service:
		return serviceReady(o), nil
	case *apiextv1.CustomResourceDefinition:
		for _, c := range o.Status.Conditions {
			if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
				return "", nil
			}
		}
		return "not Established yet", nil
	}
	return "", nil
}

func phaseOr(p string) string {
	if p == "" {
		return "Pending"
	}
	return p
}

func generationSeen(generation, observed int64) notReady {
	if observed < generation {
		return notReady(fmt.Sprintf("generation %d not yet observed by its controller (observed %d)", generation, observed))
	}
	return ""
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// scaled resolves an int-or-percent against total (percentages rounded up or down); def when unset.
func scaled(v *intstr.IntOrString, def intstr.IntOrString, total int32, roundUp bool) int32 {
	if v == nil {
		v = &def
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, int(total), roundUp)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

func deploymentReady(d *appsv1.Deployment) notReady {
	if why := generationSeen(d.Generation, d.Status.ObservedGeneration); why != "" {
		return why
	}
	if d.Spec.Paused {
		return ""
	}
	replicas := replicasOf(d.Spec.Replicas)
	var maxUnavailable int32
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		var ru appsv1.RollingUpdateDeployment
		if d.Spec.Strategy.RollingUpdate != nil {
			ru = *d.Spec.Strategy.RollingUpdate
		}
		maxUnavailable = scaled(ru.MaxUnavailable, intstr.FromString("25%"), replicas, false)
		surge := scaled(ru.MaxSurge, intstr.FromString("25%"), replicas, true)
		if maxUnavailable == 0 && surge == 0 {
			maxUnavailable = 1 // the deployment controller's own rule: a rollout must be able to progress
		}
		if maxUnavailable > replicas {
			maxUnavailable = replicas
		}
	}
	if d.Status.UpdatedReplicas < replicas {
		return notReady(fmt.Sprintf("%d of %d replicas updated", d.Status.UpdatedReplicas, replicas))
	}
	// The status does not say how many of the available pods are updated ones: count every pod of an older
	// revision still there as available, so an old pod never stands in for a new one that is not ready.
	updatedAvailable := d.Status.AvailableReplicas - max(0, d.Status.Replicas-d.Status.UpdatedReplicas)
	if need := replicas - maxUnavailable; updatedAvailable < need {
		return notReady(fmt.Sprintf("%d of %d updated replicas available (%d needed)", max(0, updatedAvailable), replicas, need))
	}
	return ""
}

func statefulSetReady(s *appsv1.StatefulSet) notReady {
	if why := generationSeen(s.Generation, s.Status.ObservedGeneration); why != "" {
		return why
	}
	replicas := replicasOf(s.Spec.Replicas)
	if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType || s.Spec.UpdateStrategy.Type == "" {
		var partition int32
		if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			partition = *ru.Partition
		}
		if want := replicas - partition; want > 0 && s.Status.UpdatedReplicas < want {
			return notReady(fmt.Sprintf("%d of %d replicas updated", s.Status.UpdatedReplicas, want))
		}
		if partition == 0 && s.Status.UpdateRevision != "" && s.Status.CurrentRevision != s.Status.UpdateRevision {
			return notReady(fmt.Sprintf("rolling out revision %s (current %s)", s.Status.UpdateRevision, s.Status.CurrentRevision))
		}
	}
	if s.Status.ReadyReplicas < replicas {
		return notReady(fmt.Sprintf("%d of %d replicas ready", s.Status.ReadyReplicas, replicas))
	}
	return ""
}

func daemonSetReady(d *appsv1.DaemonSet) notReady {
	if why := generationSeen(d.Generation, d.Status.ObservedGeneration); why != "" {
		return why
	}
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return ""
	}
	desired := d.Status.DesiredNumberScheduled
	if d.Status.UpdatedNumberScheduled < desired {
		return notReady(fmt.Sprintf("%d of %d scheduled pods updated", d.Status.UpdatedNumberScheduled, desired))
	}
	var mu *intstr.IntOrString
	if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		mu = ru.MaxUnavailable
	}
	maxUnavailable := scaled(mu, intstr.FromInt32(1), desired, true)
	if need := desired - maxUnavailable; d.Status.NumberAvailable < need {
		return notReady(fmt.Sprintf("%d of %d pods available (%d needed)", d.Status.NumberAvailable, desired, need))
	}
	return ""
}

func replicasReady(generation, observed int64, spec *int32, ready int32) notReady {
	if why := generationSeen(generation, observed); why != "" {
		return why
	}
	if replicas := replicasOf(spec); ready < replicas {
		return notReady(fmt.Sprintf("%d of %d replicas ready", ready, replicas))
	}
	return ""
}

func podReady(p *corev1.Pod) notReady {
	if p.Status.Phase == corev1.PodSucceeded {
		return ""
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			if c.Status == corev1.ConditionTrue {
				return ""
			}
			if c.Message != "" {
				return notReady(fmt.Sprintf("pod is %s and not Ready: %s", phaseOr(string(p.Status.Phase)), c.Message))
			}
		}
	}
	return notReady(fmt.Sprintf("pod is %s and not Ready", phaseOr(string(p.Status.Phase))))
}

func jobReady(j *batchv1.Job) (notReady, error) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return "", nil
		case batchv1.JobFailed:
			why := strings.TrimSpace(c.Reason + ": " + c.Message)
			return "", &jobFailed{name: j.Namespace + "/" + j.Name, why: strings.TrimSuffix(strings.TrimPrefix(why, ": "), ":")}
		}
	}
	completions := int32(1)
	if j.Spec.Completions != nil {
		completions = *j.Spec.Completions
	}
	return notReady(fmt.Sprintf("%d of %d completions succeeded", j.Status.Succeeded, completions)), nil
}

func serviceReady(s *corev1.Service) notReady {
	switch {
	case s.Spec.Type == corev1.ServiceTypeExternalName:
		return ""
	case s.Spec.ClusterIP == corev1.ClusterIPNone:
		return ""
	case s.Spec.ClusterIP == "":
		return "no cluster IP assigned"
	case s.Spec.Type == corev1.ServiceTypeLoadBalancer && len(s.Spec.ExternalIPs) == 0 && len(s.Status.LoadBalancer.Ingress) == 0:
		return "load balancer has no ingress yet"
	}
	return ""
}

// objectMeta of a slim object (all watched kinds embed ObjectMeta).
func objectMeta(obj runtime.Object) metav1.Object {
	if m, ok := obj.(metav1.ObjectMetaAccessor); ok {
		return m.GetObjectMeta()
	}
	return nil
}
