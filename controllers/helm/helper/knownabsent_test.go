package main

import (
	"errors"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// storedWeb is a memory storage holding version 1 of the release "web", and that release.
func storedWeb(t *testing.T) (*driver.Memory, *release.Release) {
	t.Helper()
	mem := driver.NewMemory()
	rel := &release.Release{Name: "web", Namespace: "ns", Version: 1, Info: &release.Info{Status: release.StatusDeployed}}
	if err := mem.Create("sh.helm.release.v1.web.v1", rel); err != nil {
		t.Fatal(err)
	}
	return mem, rel
}

func TestKnownAbsentAnswersTheFirstNameLookUpOnly(t *testing.T) {
	mem, _ := storedWeb(t)
	d := &knownAbsent{Driver: mem, name: "web"}
	byName := map[string]string{"name": "web", "owner": "helm"}
	if _, err := d.Query(byName); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Fatalf("first look-up of the name: want not found, got %v", err)
	}
	got, err := d.Query(byName)
	if err != nil || len(got) != 1 {
		t.Fatalf("second look-up goes to storage: got %d releases, %v", len(got), err)
	}
	other := &knownAbsent{Driver: mem, name: "web"}
	if got, err := other.Query(map[string]string{"name": "web", "owner": "helm", "status": "deployed"}); err != nil || len(got) != 1 {
		t.Fatalf("other queries go to storage: got %d releases, %v", len(got), err)
	}
	if got, err := other.Query(map[string]string{"name": "api", "owner": "helm"}); !errors.Is(err, driver.ErrReleaseNotFound) || len(got) != 0 {
		t.Fatalf("another name goes to storage: got %d releases, %v", len(got), err)
	}
}

func TestKnownAbsentKeepsACreateOfAnExistingNameFailing(t *testing.T) {
	mem, rel := storedWeb(t)
	d := &knownAbsent{Driver: mem, name: "web"}
	if err := d.Create("sh.helm.release.v1.web.v1", rel); !errors.Is(err, driver.ErrReleaseExists) {
		t.Fatalf("create of an existing version: want ErrReleaseExists, got %v", err)
	}
}
