package main

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/openapi"
	cachedopenapi "k8s.io/client-go/openapi/cached"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/validation"

	"helm.sh/helm/v3/pkg/chartutil"
	k8syaml "sigs.k8s.io/yaml"
)

// identity is everything shared by the requests made as one user (the controller itself, or one
// impersonated ServiceAccount): the REST config, one memory-cached discovery client and one REST mapper,
// so a thousand releases do not discover the API a thousand times.
type identity struct {
	config    *rest.Config
	discovery discovery.CachedDiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	// factory is shared by every request of this identity: it caches the OpenAPI documents Helm's
	// validation reads, which a factory per request would fetch and parse each time.
	factory   cmdutil.Factory
	clientset kubernetes.Interface

	mu   sync.Mutex
	caps *chartutil.Capabilities

	waitsOnce sync.Once
	waits     *waitCaches
}

// waitCaches are the identity's watch caches for Helm's waits, made on first use.
func (id *identity) waitCaches() *waitCaches {
	id.waitsOnce.Do(func() { id.waits = newWaitCaches(dynamic.NewForConfigOrDie(id.config)) })
	return id.waits
}

func newIdentity(base *rest.Config, impersonate string) (*identity, error) {
	cfg := rest.CopyConfig(base)
	if impersonate != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: impersonate}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cached := &sharedOpenAPI{CachedDiscoveryInterface: memory.NewMemCacheClient(dc)}
	cached.reset()
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	id := &identity{config: cfg, discovery: cached, mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached), clientset: clientset}
	id.factory = &validatorCache{Factory: cmdutil.NewFactory(&getter{id: id})}
	return id, nil
}

// capabilities of the cluster as Helm's templates see them, discovered once and again after invalidate.
func (id *identity) capabilities() (*chartutil.Capabilities, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.caps != nil {
		return id.caps, nil
	}
	kubeVersion, err := id.discovery.ServerVersion()
	if err != nil {
		return nil, err
	}
	versions, err := actionVersionSet(id.discovery)
	if err != nil {
		return nil, err
	}
	id.caps = &chartutil.Capabilities{
		APIVersions: versions,
		KubeVersion: chartutil.KubeVersion{Version: kubeVersion.GitVersion, Major: kubeVersion.Major, Minor: kubeVersion.Minor},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}
	return id.caps, nil
}

// invalidate forgets discovered kinds (after CRDs were created).
func (id *identity) invalidate() {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.discovery.Invalidate()
	id.discovery.(*sharedOpenAPI).reset()
	id.mapper.Reset()
	id.factory.(*validatorCache).reset()
	id.caps = nil
}

// validatorCache hands every request of an identity the same validator per directive. Helm asks the factory
// for a validator on every Build; kubectl's factory makes a new one each time, whose field-validation check
// parses the OpenAPI v3 document of each group-version again (three quarters of an install's CPU). The
// validator only reads the cluster's API description and caches what it learns, under a lock.
type validatorCache struct {
	cmdutil.Factory
	mu      sync.Mutex
	schemas map[string]validation.Schema
}

func (f *validatorCache) Validator(directive string) (validation.Schema, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.schemas[directive]; ok {
		return v, nil
	}
	v, err := f.Factory.Validator(directive)
	if err != nil {
		return nil, err
	}
	if f.schemas == nil {
		f.schemas = map[string]validation.Schema{}
	}
	w := &warmingSchema{Schema: v, kinds: map[schema.GroupVersionKind]*kindWarmup{}}
	f.schemas[directive] = w
	return w, nil
}

// warmingSchema lets one request per kind fill the validator's caches while the others of that kind wait
// for it: the first validation of a kind parses its group-version's OpenAPI document (a megabyte of JSON for
// the core group), and fifty releases starting at once would otherwise each parse it.
type warmingSchema struct {
	validation.Schema
	mu    sync.Mutex
	kinds map[schema.GroupVersionKind]*kindWarmup
}

type kindWarmup struct {
	mu   sync.Mutex
	done bool
}

func (s *warmingSchema) ValidateBytes(data []byte) error {
	var meta metav1.TypeMeta
	if err := k8syaml.Unmarshal(data, &meta); err != nil || meta.Kind == "" {
		return s.Schema.ValidateBytes(data)
	}
	gvk := meta.GroupVersionKind()
	s.mu.Lock()
	w, ok := s.kinds[gvk]
	if !ok {
		w = &kindWarmup{}
		s.kinds[gvk] = w
	}
	s.mu.Unlock()
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return s.Schema.ValidateBytes(data)
	}
	defer w.mu.Unlock()
	err := s.Schema.ValidateBytes(data)
	w.done = true
	return err
}

// reset forgets the validators (after CRDs were created: new kinds, new OpenAPI documents).
func (f *validatorCache) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.schemas = nil
}

// getter is Helm's RESTClientGetter for one request: the identity's shared clients, with the release's
// target namespace as the default namespace.
type getter struct {
	id        *identity
	namespace string
}

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.id.config), nil }

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.id.discovery, nil
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) { return g.id.mapper, nil }

func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: g.id.config.Host}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", Namespace: g.namespace}
	cfg.CurrentContext = "c"
	return clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

// sharedOpenAPI keeps one cached OpenAPI v3 client: Helm's validation asks for it on every Build, and the
// memory-cached discovery client would hand out a new, empty cache each time (a fetch and parse per call).
type sharedOpenAPI struct {
	discovery.CachedDiscoveryInterface
	mu sync.Mutex
	v3 openapi.Client
}

func (d *sharedOpenAPI) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.v3 = cachedopenapi.NewClient(d.CachedDiscoveryInterface.OpenAPIV3())
}

func (d *sharedOpenAPI) OpenAPIV3() openapi.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.v3
}
