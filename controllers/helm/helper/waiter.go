package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"helm.sh/helm/v3/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// releaseLabel is set by the post-renderer on every object of a release: the informers watch only those.
const releaseLabel = "helm.toolkit.fluxcd.io/name"

// getInterval is how often an object missing from the watch caches is read from the apiserver.
const getInterval = 2 * time.Second

// watchWaiter is Helm's kube.Client whose Wait and WaitWithJobs read readiness from watch caches shared by
// every release of an identity, waking on watch events instead of polling the apiserver every two seconds.
type watchWaiter struct {
	*kube.Client
	caches *waitCaches
}

func (w *watchWaiter) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, false)
}

func (w *watchWaiter) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, true)
}

// waitCaches are the informers of one identity, one per watched kind, started when a wait first needs it.
type waitCaches struct {
	client dynamic.Interface

	mu    sync.Mutex
	kinds map[schema.GroupKind]*kindCache
	// subscribers are the waits to wake when the object "Kind/namespace/name" changes.
	subscribers map[string]map[chan struct{}]struct{}
}

type kindCache struct {
	informer cache.SharedIndexInformer
	// done is closed when the informer has synced, or when it may not list or watch (forbidden set).
	done chan struct{}
	stop chan struct{}
	once sync.Once
	// forbidden: the identity may not list or watch the kind (since failedAt, guarded by waitCaches.mu).
	forbidden atomic.Bool
	failedAt  time.Time
}

// forbiddenRetry is how long a kind the identity may not list or watch falls back to Helm's own wait
// before the informer is tried again (its RBAC may have changed).
const forbiddenRetry = time.Minute

func newWaitCaches(client dynamic.Interface) *waitCaches {
	return &waitCaches{client: client, kinds: map[schema.GroupKind]*kindCache{}, subscribers: map[string]map[chan struct{}]struct{}{}}
}

func cacheKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// kind returns the started informer of a watched kind.
func (c *waitCaches) kind(gk schema.GroupKind, wk watchedKind) *kindCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.kinds[gk]; ok {
		if !k.forbidden.Load() || time.Since(k.failedAt) < forbiddenRetry {
			return k
		}
	}
	k := &kindCache{done: make(chan struct{}), stop: make(chan struct{})}
	selectLabelled := func(o *metav1.ListOptions) { o.LabelSelector = releaseLabel }
	k.informer = dynamicinformer.NewFilteredDynamicInformer(c.client, wk.gvr, metav1.NamespaceAll, 0, cache.Indexers{}, selectLabelled).Informer()
	_ = k.informer.SetTransform(slimObject(wk))
	_ = k.informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			c.mu.Lock()
			k.failedAt = time.Now()
			c.mu.Unlock()
			k.forbidden.Store(true)
			k.once.Do(func() { close(k.stop) })
		}
	})
	notify := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		c.wake(cacheKey(gk.Kind, m.GetNamespace(), m.GetName()))
	}
	_, _ = k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	})
	go k.informer.Run(k.stop)
	go func() {
		cache.WaitForCacheSync(k.stop, k.informer.HasSynced)
		close(k.done)
	}()
	if old, ok := c.kinds[gk]; ok {
		old.once.Do(func() { close(old.stop) })
	}
	c.kinds[gk] = k
	return k
}

func (c *waitCaches) wake(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.subscribers[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (c *waitCaches) subscribe(keys []string, ch chan struct{}) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if c.subscribers[k] == nil {
			c.subscribers[k] = map[chan struct{}]struct{}{}
		}
		c.subscribers[k][ch] = struct{}{}
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, k := range keys {
			delete(c.subscribers[k], ch)
			if len(c.subscribers[k]) == 0 {
				delete(c.subscribers, k)
			}
		}
	}
}

// waitItem is one object of the list the wait checks.
type waitItem struct {
	info     *resource.Info
	kind     watchedKind
	cache    *kindCache
	key      string
	labelled bool
	// namespaced: the kind lives in namespaces (else cluster-scoped).
	namespaced bool
	// generation and uid Helm last wrote: a cached object older than that is stale.
	generation int64
	uid        types.UID
	// lastGet is when the object was last read from the apiserver (objects not in the cache); zero: never.
	lastGet time.Time
	// fromGet is that reading, used until the cache has the object.
	fromGet runtime.Object
	why     notReady
}

func (w *watchWaiter) wait(resources kube.ResourceList, timeout time.Duration, waitForJobs bool) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var items []*waitItem
	var keys []string
	for _, info := range resources {
		if info.Mapping == nil {
			continue
		}
		gk := info.Mapping.GroupVersionKind.GroupKind()
		wk, ok := watchedKinds[gk]
		if !ok {
			continue // ready once it exists: Helm created it
		}
		it := &waitItem{info: info, kind: wk, namespaced: info.Mapping.Scope.Name() == meta.RESTScopeNameNamespace}
		it.key = cacheKey(gk.Kind, "", info.Name)
		if it.namespaced {
			it.key = cacheKey(gk.Kind, info.Namespace, info.Name)
		}
		if m, err := meta.Accessor(info.Object); err == nil && m != nil {
			_, it.labelled = m.GetLabels()[releaseLabel]
			it.generation = m.GetGeneration()
			it.uid = m.GetUID()
		}
		it.cache = w.caches.kind(gk, wk)
		items = append(items, it)
		keys = append(keys, it.key)
	}
	if len(items) == 0 {
		return nil
	}
	// Every informer this wait needs must have synced; one the identity may not use hands the whole wait
	// to Helm's own polling.
	for _, it := range items {
		select {
		case <-it.cache.done:
		case <-ctx.Done():
			return fmt.Errorf("the watch of %s has not synced: %w", it.kind.gvr.Resource, ctx.Err())
		}
		if it.cache.forbidden.Load() {
			remaining := timeout - time.Since(start)
			if waitForJobs {
				return w.Client.WaitWithJobs(resources, remaining)
			}
			return w.Client.Wait(resources, remaining)
		}
	}
	wake := make(chan struct{}, 1)
	defer w.caches.subscribe(keys, wake)()
	for {
		next, err := w.check(ctx, items, waitForJobs, start)
		if err != nil {
			return err
		}
		if next < 0 {
			return nil
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if next > 0 {
			timer = time.NewTimer(next)
			fire = timer.C
		}
		select {
		case <-wake:
		case <-fire:
		case <-ctx.Done():
			return timedOut(items, ctx.Err())
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// check looks at every item; it returns -1 when all are ready, else how long until an object must be read
// from the apiserver (0: only a watch event can change the answer).
func (w *watchWaiter) check(ctx context.Context, items []*waitItem, waitForJobs bool, start time.Time) (time.Duration, error) {
	allReady := true
	var next time.Duration
	for _, it := range items {
		obj, stale := w.cached(it)
		var dueAt time.Time
		if obj == nil {
			// Not in the cache: an object without the release label is read now and every getInterval; a
			// labelled one is given getInterval for its watch event first.
			now := time.Now()
			switch {
			case !it.lastGet.IsZero():
				dueAt = it.lastGet.Add(getInterval)
			case it.labelled:
				dueAt = start.Add(getInterval)
			default:
				dueAt = now
			}
			if !now.Before(dueAt) {
				got, err := w.get(ctx, it)
				it.lastGet, dueAt, it.fromGet = now, now.Add(getInterval), got
				switch {
				case err == nil:
				case apierrors.IsNotFound(err):
					it.why = "not found"
				case ctx.Err() != nil:
					// out of time: the reason found before stays
				default:
					it.why = notReady("cannot read it: " + err.Error())
				}
			}
			if it.fromGet == nil {
				if stale != "" {
					it.why = stale
				} else if it.why == "" {
					it.why = "not yet seen by the watch"
				}
			}
			obj = it.fromGet
		}
		if obj != nil {
			why, err := readiness(obj, waitForJobs)
			if err != nil {
				return 0, err
			}
			it.why = why
		}
		if it.why == "" {
			continue
		}
		allReady = false
		if !dueAt.IsZero() {
			d := max(time.Until(dueAt), time.Millisecond)
			if next == 0 || d < next {
				next = d
			}
		}
	}
	if allReady {
		return -1, nil
	}
	return next, nil
}

// cached returns the item's object from its watch cache when the cache holds what Helm last wrote (or
// newer), else nil and why the cached copy is not used.
func (w *watchWaiter) cached(it *waitItem) (runtime.Object, notReady) {
	storeKey := it.info.Name
	if it.namespaced {
		storeKey = it.info.Namespace + "/" + it.info.Name
	}
	o, ok, err := it.cache.informer.GetStore().GetByKey(storeKey)
	if err != nil || !ok {
		return nil, ""
	}
	obj, ok := o.(runtime.Object)
	if !ok {
		return nil, ""
	}
	m := objectMeta(obj)
	if m == nil {
		return nil, ""
	}
	if it.uid != "" && m.GetUID() != it.uid {
		return nil, "the watch has not yet seen the object Helm wrote"
	}
	if m.GetGeneration() < it.generation {
		return nil, "the watch has not yet seen the object Helm wrote"
	}
	it.fromGet = nil
	return obj, ""
}

// get reads an object from the apiserver, slimmed as the cache would keep it.
func (w *watchWaiter) get(ctx context.Context, it *waitItem) (runtime.Object, error) {
	var r dynamic.ResourceInterface = w.caches.client.Resource(it.kind.gvr)
	if it.namespaced {
		r = w.caches.client.Resource(it.kind.gvr).Namespace(it.info.Namespace)
	}
	u, err := r.Get(ctx, it.info.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return it.kind.slim(u.Object)
}

// timedOut is the error of a wait that ran out of time: Helm's deadline error, naming the first objects
// not ready and why.
func timedOut(items []*waitItem, cause error) error {
	var parts []string
	for _, it := range items {
		if it.why == "" {
			continue
		}
		name := it.info.Name
		if it.namespaced {
			name = it.info.Namespace + "/" + name
		}
		parts = append(parts, fmt.Sprintf("resource %s/%s not ready: %s", it.info.Mapping.GroupVersionKind.Kind, name, it.why))
		if len(parts) == 3 {
			break
		}
	}
	if len(parts) == 0 {
		return cause
	}
	return fmt.Errorf("%s: %w", strings.Join(parts, "; "), cause)
}
