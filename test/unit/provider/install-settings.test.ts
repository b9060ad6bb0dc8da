// The Bootstrap's image and replicas inputs, resolved into install options.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { controllerReplicas, parseImage, resolveSettings } from "../../../provider/settings";

test("image parts with a pull policy: the reference and the policy go to the install", () => {
  const s = resolveSettings({ mode: "git", image: { repository: "127.0.0.1:5000/mooring/controllers", tag: "dev", pullPolicy: "Never" } }, "0.1.0");
  assert.deepEqual(s.install.image, { repository: "127.0.0.1:5000/mooring/controllers", tag: "dev" });
  assert.equal(s.install.imagePullPolicy, "Never");
});

test("a reference string sets the image only; the default pull policy stays", () => {
  const s = resolveSettings({ mode: "git", image: "registry.local:5000/ctl:v9" }, "0.1.0");
  assert.deepEqual(s.install.image, { registry: "registry.local:5000", name: "ctl", tag: "v9" });
  assert.equal(s.install.imagePullPolicy, undefined);
});

test("a pull policy alone keeps the default image of the version", () => {
  const s = resolveSettings({ mode: "git", image: { pullPolicy: "Always" } }, "0.1.0");
  assert.equal(s.install.image, undefined);
  assert.equal(s.install.imagePullPolicy, "Always");
  assert.equal(parseImage({ pullPolicy: "Always" }), undefined);
});

test("a bad pull policy is refused with the accepted ones", () => {
  assert.throws(() => resolveSettings({ mode: "git", image: { pullPolicy: "Sometimes" } }, "0.1.0"), /image.pullPolicy "Sometimes" must be one of Always, IfNotPresent, Never/);
});

test("replicas by short or Flux name; source-controller runs one", () => {
  assert.deepEqual(resolveSettings({ mode: "git", replicas: { "kustomize-controller": 2 } }, "0.1.0").install.replicas, { kustomize: 2 });
  assert.deepEqual(controllerReplicas({ kustomize: 3, source: 1 }, ["source", "kustomize"]), { kustomize: 3, source: 1 });
  assert.equal(controllerReplicas(undefined, ["source"]), undefined);
  assert.throws(() => controllerReplicas({ source: 2 }, ["source", "kustomize"]), /replicas.source is 2, but source-controller serves artifacts from its own storage/);
  assert.throws(() => controllerReplicas({ kustomize: 2 }, ["source"]), /"kustomize" is not an installed controller \(installed: source-controller\)/);
  assert.throws(() => controllerReplicas({ kustomize: -1 }, ["source", "kustomize"]), /must be a whole number of at least 0/);
});
