// The Bootstrap's input resolution: defaults, names, durations and URLs.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { controllerNames, parseImage, parseTimeout, resolveSettings, sshEndpoint, urlTransport } from "../../../provider/settings";

test("defaults follow Flux: flux-system, main, the root path, 1m0s, all controllers, network policies, wait, 5m, delete manifests", () => {
  const s = resolveSettings({ mode: "git" }, "0.1.0");
  assert.equal(s.namespace, "flux-system");
  assert.equal(s.branch, "main");
  assert.equal(s.path, "");
  assert.equal(s.interval, "1m0s");
  assert.deepEqual(s.install, { version: "0.1.0", namespace: "flux-system", controllers: ["source", "kustomize", "helm", "notification"], networkPolicy: true });
  assert.equal(s.waitForReady, true);
  assert.equal(s.timeoutSeconds, 300);
  assert.equal(s.deleteGitManifests, true);
  assert.deepEqual(s.author, { name: "Mooring", email: "mooring@localhost" });
});

test("inputs are normalised: v-prefixed version, ./path/, Flux controller names", () => {
  const s = resolveSettings({ mode: "github", version: "v0.2.0", path: "./clusters/prod/", components: ["source-controller"], componentsExtra: ["kustomize-controller"] }, "0.1.0");
  assert.equal(s.install.version, "0.2.0");
  assert.equal(s.path, "clusters/prod");
  assert.deepEqual(s.install.controllers, ["source", "kustomize"]);
});

test("unknown or missing controllers are refused with the known names", () => {
  assert.throws(() => controllerNames(["source", "tf-controller"], []), /component "tf" is not available.*source-controller, kustomize-controller, helm-controller.*image-reflector-controller, image-automation-controller/);
  assert.deepEqual(controllerNames(["source", "kustomize"], ["image-reflector-controller", "image-automation-controller"]), ["source", "kustomize", "image-reflector", "image-automation"]);
  assert.throws(() => controllerNames(["kustomize"], []), /must include source-controller/);
});

test("timeouts are seconds or Go-like durations", () => {
  assert.equal(parseTimeout(undefined), 300);
  assert.equal(parseTimeout(90), 90);
  assert.equal(parseTimeout("120"), 120);
  assert.equal(parseTimeout("1h30m"), 5400);
  assert.equal(parseTimeout("45s"), 45);
  assert.throws(() => parseTimeout("soon"), /not seconds or a duration/);
  assert.throws(() => parseTimeout(0), /positive/);
});

test("a bad interval is refused before anything is touched", () => {
  assert.throws(() => resolveSettings({ mode: "git", interval: "1 minute" }, "0.1.0"), /interval "1 minute" is not a duration/);
});

test("image references parse into registry, name, tag and digest", () => {
  assert.deepEqual(parseImage("ghcr.io/acme/mooring:v1.2.3"), { registry: "ghcr.io/acme", name: "mooring", tag: "v1.2.3" });
  assert.deepEqual(parseImage("localhost:5000/ctl@sha256:abc"), { registry: "localhost:5000", name: "ctl", digest: "sha256:abc" });
  assert.deepEqual(parseImage("registry:5000/x/ctl"), { registry: "registry:5000/x", name: "ctl" });
  assert.throws(() => parseImage("controllers"), /must be <registry>\/<name>/);
});

test("URL transports and ssh endpoints", () => {
  assert.equal(urlTransport("https://github.com/acme/fleet.git"), "https");
  assert.equal(urlTransport("http://127.0.0.1:8080/fleet.git"), "https");
  assert.equal(urlTransport("git@github.com:acme/fleet.git"), "ssh");
  assert.equal(urlTransport("ssh://git@host:2222/fleet.git"), "ssh");
  assert.equal(urlTransport("file:///srv/fleet.git"), "file");
  assert.deepEqual(sshEndpoint("git@github.com:acme/fleet.git"), { url: "ssh://git@github.com/acme/fleet.git", host: "github.com", port: 22 });
  assert.deepEqual(sshEndpoint("ssh://me@127.0.0.1:2222/srv/fleet.git"), { url: "ssh://me@127.0.0.1:2222/srv/fleet.git", host: "127.0.0.1", port: 2222 });
});
