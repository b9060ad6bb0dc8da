package main

import (
	"bytes"
	"reflect"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

const rendered = `---
# Source: app/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
---
# Source: app/templates/empty.yaml
---
# Source: app/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels:
    app: app
  annotations:
    note: "kept"
spec:
  replicas: 0
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
    spec:
      containers:
        - name: app
          image: "app:1.0.0"
          args: ["--port", "8080"]
---
# Source: app/templates/list.yaml
apiVersion: v1
kind: ConfigMapList
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: one
    data:
      key: "1"
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: two
`

var owner = map[string]string{"helm.toolkit.fluxcd.io/name": "app", "helm.toolkit.fluxcd.io/namespace": "apps"}

// The direct labelling gives the objects kustomize's labels field gives: labels on metadata only, in the
// same order, Lists expanded, nothing else changed.
func TestLabelObjectsMatchesKustomize(t *testing.T) {
	got, err := labelObjects([]byte(rendered), owner)
	if err != nil {
		t.Fatal(err)
	}
	want, err := kustomizeOnce([]byte(rendered), types.Kustomization{Labels: []types.Label{{Pairs: owner}}})
	if err != nil {
		t.Fatal(err)
	}
	gotObjs, wantObjs := objects(t, got), objects(t, want)
	if len(gotObjs) != 4 {
		t.Fatalf("want 4 objects (the List expanded, the empty document dropped), got %d:\n%s", len(gotObjs), got)
	}
	if !reflect.DeepEqual(gotObjs, wantObjs) {
		t.Fatalf("objects differ from kustomize's\n--- direct\n%s\n--- kustomize\n%s", got, want)
	}
	d := gotObjs[1]
	if kind := d["kind"]; kind != "Deployment" {
		t.Fatalf("order changed: second object is %v", kind)
	}
	labels := d["metadata"].(map[string]any)["labels"].(map[string]any)
	if labels["helm.toolkit.fluxcd.io/name"] != "app" || labels["app"] != "app" {
		t.Fatalf("metadata labels: %v", labels)
	}
	selector := d["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
	if len(selector) != 1 {
		t.Fatalf("the selector must not be labelled: %v", selector)
	}
}

func TestLabelObjectsRejectsMalformedYAML(t *testing.T) {
	if _, err := labelObjects([]byte("kind: [unclosed"), owner); err == nil {
		t.Fatal("malformed YAML accepted")
	}
}

func objects(t *testing.T, manifests []byte) []map[string]any {
	t.Helper()
	nodes, err := kio.FromBytes(manifests)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, n := range nodes {
		m, err := n.Map()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if bytes.Contains(manifests, []byte("config.kubernetes.io/")) {
		t.Fatalf("reader annotations left in the output:\n%s", manifests)
	}
	return out
}
