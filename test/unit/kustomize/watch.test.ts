import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigDependents, configKeysOf, isWatchedConfig, watchedConfigChanged } from "../../../controllers/kustomize/watch";
import type { Kustomization } from "../../../controllers/api/kustomize";

const ks = (name: string, spec: Partial<Kustomization["spec"]>): Kustomization => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace: "apps" },
  spec: { sourceRef: { kind: "GitRepository", name: "fleet" }, interval: "5m", prune: true, ...spec },
});
const cm = (labels: Record<string, string> | undefined, resourceVersion = "1") => ({ metadata: { name: "vars", namespace: "apps", resourceVersion, labels } });

test("only objects labelled reconcile.fluxcd.io/watch: Enabled are watched", () => {
  assert.ok(isWatchedConfig(cm({ "reconcile.fluxcd.io/watch": "Enabled" })));
  assert.ok(!isWatchedConfig(cm({ "reconcile.fluxcd.io/watch": "Disabled" })));
  assert.ok(!isWatchedConfig(cm({ other: "Enabled" })));
  assert.ok(!isWatchedConfig(cm(undefined)));
});

test("the predicate passes creation, deletion and new resourceVersions of watched objects, nothing else", () => {
  const on = { "reconcile.fluxcd.io/watch": "Enabled" };
  assert.ok(watchedConfigChanged(undefined, cm(on)), "created");
  assert.ok(watchedConfigChanged(cm(on), undefined), "deleted");
  assert.ok(watchedConfigChanged(cm(on, "1"), cm(on, "2")), "changed");
  assert.ok(!watchedConfigChanged(cm(on, "2"), cm(on, "2")), "resync without change");
  assert.ok(!watchedConfigChanged(cm(undefined, "1"), cm(undefined, "2")), "unlabelled");
  assert.ok(watchedConfigChanged(cm(on, "1"), cm(undefined, "2")), "the update removing the label counts");
});

test("a Kustomization uses its substituteFrom ConfigMaps and Secrets (optional ones too) and its decryption Secret", () => {
  const k = ks("web", {
    postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "vars" }, { kind: "Secret", name: "creds", optional: true }] },
    decryption: { provider: "sops", secretRef: { name: "sops-keys" } },
  });
  assert.deepEqual(configKeysOf(k).sort(), ["ConfigMap/apps/vars", "Secret/apps/creds", "Secret/apps/sops-keys"]);
  assert.deepEqual(configKeysOf(ks("plain", {})), []);
});

test("the index maps a ConfigMap or Secret to the Kustomizations using it, and follows their changes", () => {
  const idx = new ConfigDependents();
  idx.set(ks("web", { postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "vars" }] } }));
  idx.set(ks("api", { postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "vars" }, { kind: "Secret", name: "vars" }] } }));
  assert.deepEqual(idx.dependentsOf("ConfigMap", "apps", "vars"), ["apps/api", "apps/web"]);
  assert.deepEqual(idx.dependentsOf("Secret", "apps", "vars"), ["apps/api"], "kinds are told apart");
  assert.deepEqual(idx.dependentsOf("ConfigMap", "other", "vars"), [], "namespaces are told apart");
  idx.set(ks("web", { postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "other" }] } }));
  assert.deepEqual(idx.dependentsOf("ConfigMap", "apps", "vars"), ["apps/api"], "a changed spec replaces the old references");
  idx.delete("apps/api");
  assert.deepEqual(idx.dependentsOf("ConfigMap", "apps", "vars"), []);
  assert.deepEqual(idx.dependentsOf("ConfigMap", "apps", "other"), ["apps/web"]);
});
