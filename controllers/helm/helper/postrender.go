package main

import (
	"bytes"
	"fmt"

	"helm.sh/helm/v3/pkg/postrender"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
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
		r.steps = append(r.steps, types.Kustomization{Labels: []types.Label{{Pairs: req.Labels}}})
	}
	if len(r.steps) == 0 {
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
