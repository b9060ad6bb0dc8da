import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import {
  decideKustomization,
  defaultKustomization,
  fluxSystemFiles,
  kustomizationPath,
  renderSync,
  renderSyncYaml,
} from "../../../bootstrap/manifests/sync";
import { isBootstrapError } from "../../../bootstrap/errors";

describe("renderSync", () => {
  it("renders Flux's flux-system GitRepository and Kustomization", () => {
    const [repo, ks] = renderSync({ url: "ssh://git@github.com/acme/fleet", path: "clusters/prod" });
    assert.deepEqual(JSON.parse(JSON.stringify(repo)), {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "flux-system", namespace: "flux-system" },
      spec: { interval: "1m0s", ref: { branch: "main" }, secretRef: { name: "flux-system" }, url: "ssh://git@github.com/acme/fleet" },
    });
    assert.deepEqual(ks, {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "flux-system", namespace: "flux-system" },
      spec: { interval: "10m0s", path: "./clusters/prod", prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" } },
    });
  });

  it("honours branch, namespace, intervals and a public repository without secret", () => {
    const text = renderSyncYaml({ url: "https://git.example/fleet.git", branch: "prod", namespace: "gitops", interval: "30s", kustomizationInterval: "5m", secretName: null });
    const [repo, ks] = parseAllDocuments(text).map((d) => d.toJSON());
    assert.deepEqual(repo.spec, { interval: "30s", ref: { branch: "prod" }, url: "https://git.example/fleet.git" });
    assert.equal(repo.metadata.namespace, "gitops");
    assert.equal(ks.spec.interval, "5m");
    assert.equal(ks.spec.path, "./");
  });

  it("rejects bad durations and paths leaving the repository", () => {
    assert.throws(() => renderSync({ url: "x", interval: "1 minute" }), (e) => isBootstrapError(e, "InvalidInput") && /1 minute/.test(e.message));
    assert.throws(() => kustomizationPath("../etc"), (e) => isBootstrapError(e, "InvalidInput"));
  });

  it("normalises paths the way Flux writes them", () => {
    assert.equal(kustomizationPath("./clusters/prod/"), "./clusters/prod");
    assert.equal(kustomizationPath("/"), "./");
    assert.equal(kustomizationPath(undefined), "./");
  });
});

describe("kustomization.yaml", () => {
  it("defaults to listing the two gotk files", () => {
    assert.deepEqual(parse(defaultKustomization()), {
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: ["gotk-components.yaml", "gotk-sync.yaml"],
    });
  });

  it("keeps a user's file byte for byte, patches included", () => {
    const mine = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - gotk-components.yaml\n  - gotk-sync.yaml\npatches:\n  - path: memory.yaml   # raise limits\n";
    const decision = decideKustomization(mine);
    assert.equal(decision.action, "kept");
    assert.equal(decision.content, mine);
    assert.deepEqual(decision.warnings, []);
  });

  it("writes an explicit override even over an existing file", () => {
    const decision = decideKustomization("resources: [gotk-components.yaml, gotk-sync.yaml]\n", "resources: [gotk-components.yaml]\n");
    assert.equal(decision.action, "overridden");
    assert.equal(decision.content, "resources: [gotk-components.yaml]\n");
    assert.equal(decision.warnings.length, 1);
    assert.match(decision.warnings[0] ?? "", /gotk-sync\.yaml/);
  });

  it("warns when a kept file is not YAML", () => {
    assert.match(decideKustomization("resources: [\n").warnings[0] ?? "", /not valid YAML/);
  });

  it("places Flux's three files in <path>/flux-system/", () => {
    const { files, kustomization } = fluxSystemFiles({ path: "clusters/prod", components: "C", sync: "S" });
    assert.deepEqual(Object.keys(files).sort(), [
      "clusters/prod/flux-system/gotk-components.yaml",
      "clusters/prod/flux-system/gotk-sync.yaml",
      "clusters/prod/flux-system/kustomization.yaml",
    ]);
    assert.equal(kustomization.action, "created");
    assert.deepEqual(Object.keys(fluxSystemFiles({ components: "C", sync: "S" }).files).sort()[0], "flux-system/gotk-components.yaml");
  });
});
