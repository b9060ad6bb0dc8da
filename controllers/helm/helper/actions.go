package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
)

type request struct {
	ID          int64       `json:"id"`
	Op          string      `json:"op"`
	Connection  *connection `json:"connection,omitempty"`
	Impersonate string      `json:"impersonate,omitempty"`

	ReleaseName      string         `json:"releaseName,omitempty"`
	Namespace        string         `json:"namespace,omitempty"`
	StorageNamespace string         `json:"storageNamespace,omitempty"`
	Chart            string         `json:"chart,omitempty"`
	Values           map[string]any `json:"values,omitempty"`

	TimeoutMs                int64             `json:"timeoutMs,omitempty"`
	Wait                     bool              `json:"wait,omitempty"`
	WaitForJobs              bool              `json:"waitForJobs,omitempty"`
	DisableHooks             bool              `json:"disableHooks,omitempty"`
	DisableOpenAPIValidation bool              `json:"disableOpenAPIValidation,omitempty"`
	DisableSchemaValidation  bool              `json:"disableSchemaValidation,omitempty"`
	CRDs                     string            `json:"crds,omitempty"`
	CreateNamespace          bool              `json:"createNamespace,omitempty"`
	Replace                  bool              `json:"replace,omitempty"`
	Force                    bool              `json:"force,omitempty"`
	CleanupOnFail            bool              `json:"cleanupOnFail,omitempty"`
	Recreate                 bool              `json:"recreate,omitempty"`
	MaxHistory               int               `json:"maxHistory,omitempty"`
	Version                  int               `json:"version,omitempty"`
	KeepHistory              bool              `json:"keepHistory,omitempty"`
	DeletionPropagation      string            `json:"deletionPropagation,omitempty"`
	Description              string            `json:"description,omitempty"`
	Labels                   map[string]string `json:"labels,omitempty"`
	TestFilters              []testFilter      `json:"testFilters,omitempty"`
	PostRenderers            []postRenderer    `json:"postRenderers,omitempty"`
	CommonMetadata           *commonMetadata   `json:"commonMetadata,omitempty"`
	WithManifest             bool              `json:"withManifest,omitempty"`
	// FirstRelease (install): the controller found no release of this name just before.
	FirstRelease bool `json:"firstRelease,omitempty"`
}

type testFilter struct {
	Name    string `json:"name"`
	Exclude bool   `json:"exclude,omitempty"`
}

type response struct {
	ID      int64      `json:"id"`
	OK      bool       `json:"ok"`
	Error   string     `json:"error,omitempty"`
	Version string     `json:"version,omitempty"`
	Release *snapshot  `json:"release,omitempty"`
	History []snapshot `json:"history,omitempty"`
	// NotFound: the release does not exist (status, history, uninstall).
	NotFound bool `json:"notFound,omitempty"`
	// Chart: name and version of the chart a status request named.
	Chart *chartMeta `json:"chart,omitempty"`
}

type chartMeta struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
}

// chartMetas caches the metadata of chart files by path: the controller names files by their digest.
var chartMetas sync.Map

func chartMetaOf(path string) (*chartMeta, error) {
	if m, ok := chartMetas.Load(path); ok {
		return m.(*chartMeta), nil
	}
	c, err := loadChart(path)
	if err != nil {
		return nil, err
	}
	m := &chartMeta{Name: c.Metadata.Name, Version: c.Metadata.Version, AppVersion: c.Metadata.AppVersion}
	chartMetas.Store(path, m)
	return m, nil
}

type hookStatus struct {
	LastStarted   string `json:"lastStarted,omitempty"`
	LastCompleted string `json:"lastCompleted,omitempty"`
	Phase         string `json:"phase,omitempty"`
}

// snapshot is a release as HelmRelease status.history records it (Flux's Snapshot fields), plus what the
// controller needs for drift detection when asked.
type snapshot struct {
	Digest        string                `json:"digest"`
	Name          string                `json:"name"`
	Namespace     string                `json:"namespace"`
	Version       int                   `json:"version"`
	Status        string                `json:"status"`
	ChartName     string                `json:"chartName"`
	ChartVersion  string                `json:"chartVersion"`
	AppVersion    string                `json:"appVersion,omitempty"`
	ConfigDigest  string                `json:"configDigest"`
	FirstDeployed string                `json:"firstDeployed"`
	LastDeployed  string                `json:"lastDeployed"`
	Deleted       string                `json:"deleted,omitempty"`
	Description   string                `json:"description,omitempty"`
	TestHooks     map[string]hookStatus `json:"testHooks,omitempty"`
	Manifest      string                `json:"manifest,omitempty"`
	Notes         string                `json:"notes,omitempty"`
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// digestOf is "sha256:<hex>" of the canonical JSON of v: encoding/json sorts map keys; no HTML escaping,
// so the controller computes the same digest of the same values.
func digestOf(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func snapshotOf(r *release.Release, withManifest bool) *snapshot {
	s := &snapshot{Name: r.Name, Namespace: r.Namespace, Version: r.Version}
	if r.Info != nil {
		s.Status = r.Info.Status.String()
		s.FirstDeployed = stamp(r.Info.FirstDeployed.Time)
		s.LastDeployed = stamp(r.Info.LastDeployed.Time)
		s.Deleted = stamp(r.Info.Deleted.Time)
		s.Description = r.Info.Description
		s.Notes = r.Info.Notes
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		s.ChartName = r.Chart.Metadata.Name
		s.ChartVersion = r.Chart.Metadata.Version
		s.AppVersion = r.Chart.Metadata.AppVersion
	}
	cfg := r.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	s.ConfigDigest = digestOf(cfg)
	s.Digest = digestOf(struct {
		Name, Namespace, Manifest, Status string
		Version                           int
		Config                            map[string]any
	}{r.Name, r.Namespace, r.Manifest, s.Status, r.Version, cfg})
	for _, h := range r.Hooks {
		for _, e := range h.Events {
			if e == release.HookTest {
				if s.TestHooks == nil {
					s.TestHooks = map[string]hookStatus{}
				}
				s.TestHooks[h.Name] = hookStatus{LastStarted: stamp(h.LastRun.StartedAt.Time), LastCompleted: stamp(h.LastRun.CompletedAt.Time), Phase: string(h.LastRun.Phase)}
			}
		}
	}
	if withManifest {
		s.Manifest = r.Manifest
	}
	return s
}

// configuration is Helm's action configuration for one request: the identity's shared clients, the
// release's target namespace, and Secrets storage in the storage namespace.
func configuration(id *identity, req *request) (*action.Configuration, error) {
	g := &getter{id: id, namespace: req.Namespace}
	kc := &kube.Client{Factory: id.factory, Namespace: req.Namespace, Log: func(string, ...any) {}}
	storageNS := req.StorageNamespace
	if storageNS == "" {
		storageNS = req.Namespace
	}
	d := driver.NewSecrets(id.clientset.CoreV1().Secrets(storageNS))
	d.Log = func(string, ...any) {}
	store := storage.Init(d)
	store.Log = func(string, ...any) {}
	caps, err := id.capabilities()
	if err != nil {
		return nil, fmt.Errorf("cannot discover the cluster's API: %w", err)
	}
	return &action.Configuration{RESTClientGetter: g, Releases: store, KubeClient: &watchWaiter{Client: kc, caches: id.waitCaches()}, Capabilities: caps, Log: func(string, ...any) {}}, nil
}

func timeoutOf(req *request) time.Duration {
	if req.TimeoutMs > 0 {
		return time.Duration(req.TimeoutMs) * time.Millisecond
	}
	return 5 * time.Minute
}

func run(id *identity, req *request) response {
	if req.ReleaseName == "" {
		return response{Error: req.Op + " needs releaseName"}
	}
	if req.Namespace == "" {
		return response{Error: req.Op + " needs namespace"}
	}
	cfg, err := configuration(id, req)
	if err != nil {
		return response{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeoutOf(req)+30*time.Second)
	defer cancel()
	key := releaseKey(req)
	switch req.Op {
	case "install", "upgrade", "test", "rollback", "uninstall":
		running.Add(key)
		defer running.Done(key)
	}
	switch req.Op {
	case "unlock":
		return unlock(cfg, req, key)
	case "status":
		return status(cfg, req)
	case "history":
		return history(cfg, req)
	case "install":
		return install(ctx, id, cfg, req)
	case "upgrade":
		return upgrade(ctx, id, cfg, req)
	case "test":
		return test(cfg, req)
	case "rollback":
		return rollback(cfg, req)
	case "uninstall":
		return uninstall(cfg, req)
	}
	return response{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

// inFlight counts the release operations this helper runs, per release: a release left in a pending-*
// state by an operation that still runs here is not unlocked.
type inFlight struct {
	mu sync.Mutex
	n  map[string]int
}

var running = &inFlight{n: map[string]int{}}

func (f *inFlight) Add(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n[key]++
}

func (f *inFlight) Done(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[key]--; f.n[key] <= 0 {
		delete(f.n, key)
	}
}

func (f *inFlight) Busy(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[key] > 0
}

func releaseKey(req *request) string {
	ns := req.StorageNamespace
	if ns == "" {
		ns = req.Namespace
	}
	return ns + "/" + req.ReleaseName
}

// unlock marks the latest release version failed when it is stuck in pending-install, pending-upgrade or
// pending-rollback (the process that ran the operation died), so the next action can run. Refused while an
// operation on the release runs in this helper.
func unlock(cfg *action.Configuration, req *request, key string) response {
	r, err := cfg.Releases.Last(req.ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return response{OK: true, NotFound: true}
	}
	if err != nil {
		return response{Error: err.Error()}
	}
	if r.Info == nil || !r.Info.Status.IsPending() {
		return response{OK: true, Release: snapshotOf(r, false)}
	}
	if running.Busy(key) {
		return response{Error: fmt.Sprintf("release %s is %s and an operation on it is still running", key, r.Info.Status)}
	}
	description := req.Description
	if description == "" {
		description = fmt.Sprintf("Marked failed: the operation that left it %s did not finish", r.Info.Status)
	}
	r.SetStatus(release.StatusFailed, description)
	if err := cfg.Releases.Update(r); err != nil {
		return response{Error: fmt.Sprintf("cannot unlock release %s: %v", key, err)}
	}
	return response{OK: true, Release: snapshotOf(r, false)}
}

func status(cfg *action.Configuration, req *request) response {
	var meta *chartMeta
	if req.Chart != "" {
		m, err := chartMetaOf(req.Chart)
		if err != nil {
			return response{Error: err.Error()}
		}
		meta = m
	}
	r, err := cfg.Releases.Last(req.ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return response{OK: true, NotFound: true, Chart: meta}
	}
	if err != nil {
		return response{Error: err.Error()}
	}
	return response{OK: true, Release: snapshotOf(r, req.WithManifest), Chart: meta}
}

func history(cfg *action.Configuration, req *request) response {
	rels, err := cfg.Releases.History(req.ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err == nil && len(rels) == 0) {
		return response{OK: true, NotFound: true}
	}
	if err != nil {
		return response{Error: err.Error()}
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version > rels[j].Version })
	out := make([]snapshot, 0, len(rels))
	for _, r := range rels {
		out = append(out, *snapshotOf(r, false))
	}
	return response{OK: true, History: out}
}

func loadChart(path string) (*chart.Chart, error) {
	if path == "" {
		return nil, fmt.Errorf("no chart given")
	}
	c, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("cannot load chart: %w", err)
	}
	if req := c.Metadata.Dependencies; len(req) > 0 {
		if err := action.CheckDependencies(c, req); err != nil {
			return nil, fmt.Errorf("chart %s: %w", c.Name(), err)
		}
	}
	return c, nil
}

// result turns a Helm action's outcome into a response; a failed release is returned with the error.
func result(r *release.Release, err error, withManifest bool) response {
	resp := response{OK: err == nil}
	if err != nil {
		resp.Error = err.Error()
	}
	if r != nil && r.Info != nil {
		resp.Release = snapshotOf(r, withManifest)
	}
	return resp
}

func install(ctx context.Context, id *identity, cfg *action.Configuration, req *request) response {
	c, err := loadChart(req.Chart)
	if err != nil {
		return response{Error: err.Error()}
	}
	if err := applyCRDs(id, cfg, c, req.CRDs, true); err != nil {
		return response{Error: err.Error()}
	}
	if req.FirstRelease && !req.Replace {
		cfg.Releases.Driver = &knownAbsent{Driver: cfg.Releases.Driver, name: req.ReleaseName}
	}
	a := action.NewInstall(cfg)
	a.ReleaseName = req.ReleaseName
	a.Namespace = req.Namespace
	a.Timeout = timeoutOf(req)
	a.Wait = req.Wait
	a.WaitForJobs = req.WaitForJobs
	a.DisableHooks = req.DisableHooks
	a.DisableOpenAPIValidation = req.DisableOpenAPIValidation
	a.SkipSchemaValidation = req.DisableSchemaValidation
	a.SkipCRDs = true // applied above, as the crds policy says
	a.CreateNamespace = req.CreateNamespace
	a.Replace = req.Replace
	a.Description = req.Description
	a.Labels = req.Labels
	a.PostRenderer = newPostRenderer(req)
	r, err := a.RunWithContext(ctx, c, req.Values)
	return result(r, err, req.WithManifest)
}

// knownAbsent answers Helm's look-up of a release name that the controller has just found unused, once,
// without listing the storage namespace's Secrets again. It stays safe if a release of that name appears
// meanwhile: version 1's Secret then exists, and the install stops at creating it, before any object.
type knownAbsent struct {
	driver.Driver
	name  string
	asked bool
}

func (d *knownAbsent) Query(labels map[string]string) ([]*release.Release, error) {
	if !d.asked && labels["name"] == d.name && labels["owner"] == "helm" && len(labels) == 2 {
		d.asked = true
		return nil, driver.ErrReleaseNotFound
	}
	return d.Driver.Query(labels)
}

func upgrade(ctx context.Context, id *identity, cfg *action.Configuration, req *request) response {
	c, err := loadChart(req.Chart)
	if err != nil {
		return response{Error: err.Error()}
	}
	if err := applyCRDs(id, cfg, c, req.CRDs, false); err != nil {
		return response{Error: err.Error()}
	}
	a := action.NewUpgrade(cfg)
	a.Namespace = req.Namespace
	a.Timeout = timeoutOf(req)
	a.Wait = req.Wait
	a.WaitForJobs = req.WaitForJobs
	a.DisableHooks = req.DisableHooks
	a.DisableOpenAPIValidation = req.DisableOpenAPIValidation
	a.SkipSchemaValidation = req.DisableSchemaValidation
	a.SkipCRDs = true
	a.Force = req.Force
	a.CleanupOnFail = req.CleanupOnFail
	a.MaxHistory = req.MaxHistory
	a.Description = req.Description
	a.Labels = req.Labels
	a.ResetValues = true
	a.PostRenderer = newPostRenderer(req)
	r, err := a.RunWithContext(ctx, req.ReleaseName, c, req.Values)
	return result(r, err, req.WithManifest)
}

func test(cfg *action.Configuration, req *request) response {
	a := action.NewReleaseTesting(cfg)
	a.Namespace = req.Namespace
	a.Timeout = timeoutOf(req)
	a.Filters = map[string][]string{}
	for _, f := range req.TestFilters {
		key := action.IncludeNameFilter
		if f.Exclude {
			key = action.ExcludeNameFilter
		}
		a.Filters[key] = append(a.Filters[key], f.Name)
	}
	r, err := a.Run(req.ReleaseName)
	return result(r, err, false)
}

func rollback(cfg *action.Configuration, req *request) response {
	a := action.NewRollback(cfg)
	a.Version = req.Version
	a.Timeout = timeoutOf(req)
	a.Wait = req.Wait
	a.WaitForJobs = req.WaitForJobs
	a.DisableHooks = req.DisableHooks
	a.Recreate = req.Recreate
	a.Force = req.Force
	a.CleanupOnFail = req.CleanupOnFail
	a.MaxHistory = req.MaxHistory
	if err := a.Run(req.ReleaseName); err != nil {
		r, _ := cfg.Releases.Last(req.ReleaseName)
		return result(r, err, false)
	}
	r, err := cfg.Releases.Last(req.ReleaseName)
	return result(r, err, req.WithManifest)
}

func uninstall(cfg *action.Configuration, req *request) response {
	a := action.NewUninstall(cfg)
	a.Timeout = timeoutOf(req)
	a.Wait = req.Wait
	a.DisableHooks = req.DisableHooks
	a.KeepHistory = req.KeepHistory
	a.Description = req.Description
	a.DeletionPropagation = req.DeletionPropagation
	if a.DeletionPropagation == "" {
		a.DeletionPropagation = "background"
	}
	res, err := a.Run(req.ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return response{OK: true, NotFound: true}
	}
	if err != nil {
		if res != nil && res.Release != nil {
			return result(res.Release, err, false)
		}
		return response{Error: err.Error()}
	}
	if res != nil && res.Release != nil {
		return result(res.Release, nil, false)
	}
	return response{OK: true}
}

// applyCRDs applies the chart's crds/ directory as the policy says: Skip, Create (only missing ones; the
// default on install) or CreateReplace (create missing, replace existing). Upgrades default to Skip.
func applyCRDs(id *identity, cfg *action.Configuration, c *chart.Chart, policy string, installing bool) error {
	if policy == "" {
		if installing {
			policy = "Create"
		} else {
			policy = "Skip"
		}
	}
	if policy == "Skip" {
		return nil
	}
	if policy != "Create" && policy != "CreateReplace" {
		return fmt.Errorf("unknown crds policy %q (Skip, Create or CreateReplace)", policy)
	}
	var all []chart.CRD
	for _, dep := range append([]*chart.Chart{c}, c.Dependencies()...) {
		all = append(all, dep.CRDObjects()...)
	}
	if len(all) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, crd := range all {
		buf.Write(crd.File.Data)
		buf.WriteString("\n---\n")
	}
	resources, err := cfg.KubeClient.Build(&buf, false)
	if err != nil {
		return fmt.Errorf("chart %s: crds: %w", c.Name(), err)
	}
	changed := false
	err = resources.Visit(func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		h := resource.NewHelper(info.Client, info.Mapping).WithFieldManager("helm-controller")
		current, err := h.Get("", info.Name)
		if apierrors.IsNotFound(err) {
			if _, err := h.Create("", true, info.Object); err != nil {
				return fmt.Errorf("creating CustomResourceDefinition %s: %w", info.Name, err)
			}
			changed = true
			return nil
		}
		if err != nil {
			return err
		}
		if policy == "CreateReplace" {
			acc, err := meta.Accessor(current)
			if err != nil {
				return err
			}
			desired, err := meta.Accessor(info.Object)
			if err != nil {
				return err
			}
			desired.SetResourceVersion(acc.GetResourceVersion())
			if _, err := h.Replace("", info.Name, true, info.Object); err != nil {
				return fmt.Errorf("replacing CustomResourceDefinition %s: %w", info.Name, err)
			}
			changed = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if changed {
		if err := cfg.KubeClient.Wait(resources, 60*time.Second); err != nil {
			return fmt.Errorf("waiting for the chart's CustomResourceDefinitions: %w", err)
		}
		id.invalidate()
		caps, err := id.capabilities()
		if err != nil {
			return err
		}
		cfg.Capabilities = caps
	}
	return nil
}

func actionGetVersionSet(dc discovery.CachedDiscoveryInterface) (chartutil.VersionSet, error) {
	return action.GetVersionSet(dc)
}
