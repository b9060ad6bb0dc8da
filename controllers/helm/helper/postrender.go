package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/postrender"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

// A HelmRelease's spec.postRenderers[].kustomize, spec.commonMetadata and the labels that name the
// HelmRelease owning each object, applied to the rendered manifest in that order, as Flux does.
type postRenderer struct {
	Kustomize *kustomizeRenderer `json:"kustomize,omitempty"`
}

type kustomizeRenderer struct {
	Patches []kustomizePatch `json:"patches,omitempty"`
	Images  []types.Image    `json:"images,omitempty"`
}

type kustomizePatch struct {
	Patch  string          `json:"patch"`
	Target *types.Selector `json:"target,omitempty"`
}

type commonMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type renderers struct {
	steps []types.Kustomization
	// labels are set on every object's metadata last (the HelmRelease's name and namespace).
	labels map[string]string
}

func newPostRenderer(req *request) postrender.PostRenderer {
	r := &renderers{}
	for _, pr := range req.PostRenderers {
		if pr.Kustomize == nil {
			continue
		}
		k := types.Kustomization{Images: pr.Kustomize.Images}
		for _, p := range pr.Kustomize.Patches {
			k.Patches = append(k.Patches, types.Patch{Patch: p.Patch, Target: p.Target})
		}
		r.steps = append(r.steps, k)
	}
	if m := req.CommonMetadata; m != nil && (len(m.Labels) > 0 || len(m.Annotations) > 0) {
		r.steps = append(r.steps, types.Kustomization{CommonAnnotations: m.Annotations, Labels: []types.Label{{Pairs: m.Labels}}})
	}
	if len(req.Labels) > 0 {
		r.labels = req.Labels
	}
	if len(r.steps) == 0 && len(r.labels) == 0 {
		return nil
	}
	return r
}

func (r *renderers) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	out := in
	for i, k := range r.steps {
		next, err := kustomizeOnce(out.Bytes(), k)
		if err != nil {
			return nil, fmt.Errorf("post-renderer %d: %w", i, err)
		}
		out = bytes.NewBuffer(next)
	}
	if len(r.labels) == 0 {
		return out, nil
	}
	labelled, err := labelObjects(out.Bytes(), r.labels)
	if err != nil {
		return nil, fmt.Errorf("labelling the release's objects: %w", err)
	}
	return bytes.NewBuffer(labelled), nil
}

// labelObjects sets labels on each object's metadata.labels only (not on selectors or pod templates), as
// kustomize's labels field does without includeSelectors and includeTemplates, with kustomize's own YAML
// library but without a kustomization build (a tenth of the CPU). Lists are expanded into their items, as
// kustomize does.
func labelObjects(manifests []byte, labels map[string]string) ([]byte, error) {
	nodes, err := kio.FromBytes(manifests)
	if err != nil {
		return nil, err
	}
	var out []*kyaml.RNode
	for _, n := range nodes {
		items, err := listItems(n)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, n := range out {
		for _, k := range keys {
			if err := n.PipeE(kyaml.SetLabel(k, labels[k])); err != nil {
				return nil, fmt.Errorf("%s %s: %w", n.GetKind(), n.GetName(), err)
			}
		}
	}
	var buf bytes.Buffer
	if err := (kio.ByteWriter{Writer: &buf}).Write(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// listItems is a List's items (any kind ending in "List" with an items sequence), else the object itself.
func listItems(n *kyaml.RNode) ([]*kyaml.RNode, error) {
	if !strings.HasSuffix(n.GetKind(), "List") {
		return []*kyaml.RNode{n}, nil
	}
	items, err := n.Pipe(kyaml.Lookup("items"))
	if err != nil || items == nil {
		return []*kyaml.RNode{n}, err
	}
	elements, err := items.Elements()
	if err != nil {
		return nil, err
	}
	var out []*kyaml.RNode
	for _, e := range elements {
		more, err := listItems(e)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

func kustomizeOnce(manifests []byte, k types.Kustomization) ([]byte, error) {
	fs := filesys.MakeFsInMemory()
	k.APIVersion = types.KustomizationVersion
	k.Kind = types.KustomizationKind
	k.Resources = []string{"resources.yaml"}
	doc, err := yaml.Marshal(k)
	if err != nil {
		return nil, err
	}
	if err := fs.WriteFile("/render/kustomization.yaml", doc); err != nil {
		return nil, err
	}
	if err := fs.WriteFile("/render/resources.yaml", manifests); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	m, err := krusty.MakeKustomizer(opts).Run(fs, "/render")
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}
