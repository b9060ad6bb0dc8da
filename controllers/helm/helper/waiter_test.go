package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/tools/cache"
)

func deploymentInfo(generation int64, labelled bool) *resource.Info {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", Generation: generation, UID: "u1"}}
	if labelled {
		d.Labels = map[string]string{releaseLabel: "web"}
	}
	return &resource.Info{
		Name: "web", Namespace: "apps", Object: d,
		Mapping: &meta.RESTMapping{
			GroupVersionKind: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			Resource:         schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			Scope:            meta.RESTScopeNamespace,
		},
	}
}

func cachedDeployment(generation, observed int64, available int32) *appsv1.Deployment {
	one := int32(1)
	zero := intstr.FromInt32(0)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", Generation: generation, UID: "u1"},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero}}},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: available},
	}
}

// a kind cache whose store the test fills (the informer is not run).
func testKindCache() *kindCache {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &appsv1.Deployment{}, 0, cache.Indexers{})
	return &kindCache{informer: inf}
}

func waitItemFor(info *resource.Info, k *kindCache) *waitItem {
	it := &waitItem{info: info, kind: watchedKinds[schema.GroupKind{Group: "apps", Kind: "Deployment"}], cache: k, namespaced: true, key: cacheKey("Deployment", "apps", "web")}
	m, _ := meta.Accessor(info.Object)
	_, it.labelled = m.GetLabels()[releaseLabel]
	it.generation, it.uid = m.GetGeneration(), m.GetUID()
	return it
}

// The cached copy of an object older than what Helm wrote (the previous generation's status) is not taken
// as ready; the newer copy the watch delivers is.
func TestWaitIgnoresStaleCachedObjects(t *testing.T) {
	k := testKindCache()
	w := &watchWaiter{caches: newWaitCaches(nil)}
	items := []*waitItem{waitItemFor(deploymentInfo(2, true), k)}
	if err := k.informer.GetStore().Add(cachedDeployment(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	next, err := w.check(context.Background(), items, false, start)
	if err != nil || next < 0 {
		t.Fatalf("a stale cached object must not be ready: next %v, err %v", next, err)
	}
	if !strings.Contains(string(items[0].why), "not yet seen the object Helm wrote") {
		t.Fatalf("why: %q", items[0].why)
	}
	if next <= 0 || next > getInterval {
		t.Fatalf("a labelled object missing from the cache is read after the grace of %v, not %v", getInterval, next)
	}
	_ = k.informer.GetStore().Update(cachedDeployment(2, 2, 0))
	if next, err = w.check(context.Background(), items, false, start); err != nil || next != 0 {
		t.Fatalf("a cached, not ready object waits for a watch event only: next %v, err %v", next, err)
	}
	if items[0].why != "0 of 1 updated replicas available (1 needed)" {
		t.Fatalf("why: %q", items[0].why)
	}
	_ = k.informer.GetStore().Update(cachedDeployment(2, 2, 1))
	if next, err = w.check(context.Background(), items, false, start); err != nil || next != -1 {
		t.Fatalf("ready: next %v, err %v", next, err)
	}
}

// An event on a subscribed object wakes its waits; others do not.
func TestWaitCachesWakeSubscribers(t *testing.T) {
	c := newWaitCaches(nil)
	ch := make(chan struct{}, 1)
	unsubscribe := c.subscribe([]string{cacheKey("Deployment", "apps", "web")}, ch)
	c.wake(cacheKey("Deployment", "apps", "other"))
	select {
	case <-ch:
		t.Fatal("woken by another object")
	default:
	}
	c.wake(cacheKey("Deployment", "apps", "web"))
	c.wake(cacheKey("Deployment", "apps", "web")) // never blocks
	select {
	case <-ch:
	default:
		t.Fatal("not woken")
	}
	unsubscribe()
	if len(c.subscribers) != 0 {
		t.Fatalf("subscriptions left: %v", c.subscribers)
	}
}

// The timeout error is Helm's deadline error, naming the objects not ready and why.
func TestWaitTimeoutNamesTheObjects(t *testing.T) {
	it := waitItemFor(deploymentInfo(1, true), testKindCache())
	it.why = "0 of 1 updated replicas available (1 needed)"
	err := timedOut([]*waitItem{it}, context.DeadlineExceeded)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("not a deadline error: %v", err)
	}
	if want := "resource Deployment/apps/web not ready: 0 of 1 updated replicas available (1 needed): context deadline exceeded"; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}
