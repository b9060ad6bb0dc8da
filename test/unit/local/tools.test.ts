import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { cacheRoot, loadTools, parseReplaces, toolNames, wantedTools, wrapperGoMod, type BuildSpec } from "../../../local/tools";

const upstream = `module example.com/upstream

go 1.24

replace (
	example.com/upstream/api => ./staging/api // local sibling
	example.com/upstream/FORBIDDEN => ./FORBIDDEN_DEPENDENCY
	golang.org/x/text => golang.org/x/text v0.3.6
)

replace github.com/old/dep v1.0.0 => github.com/fork/dep v1.0.1
`;

const spec: BuildSpec = {
  version: "1.2.3",
  module: "example.com/upstream",
  moduleVersion: "v1.2.3",
  relativeReplaceVersion: "v0.2.3",
  binaries: { tool: "example.com/upstream/cmd/tool" },
  ldflags: [],
  check: {},
};

describe("pinned toolchain", () => {
  test("a plain resolve leaves out the benchmark-only builds; --all and names bring them in", () => {
    const tools = loadTools();
    const names = (opts: { only?: string[]; all?: boolean }) => wantedTools(tools, opts).map((t) => t.name);
    const plain = names({});
    for (const n of ["kube-apiserver", "kubelet", "kube-proxy", "coredns", "kustomize", "pulumi", "flux"]) assert.ok(plain.includes(n), n);
    assert.ok(!plain.includes("flux-source-controller") && !plain.includes("flux-kustomize-controller"), plain.join(", "));
    assert.ok(names({ all: true }).includes("flux-kustomize-controller"));
    assert.deepEqual(names({ only: ["flux-source-controller"] }), ["flux-source-controller"]);
  });

  test("parses block and single-line replace directives, dropping comments", () => {
    assert.deepEqual(parseReplaces(upstream), [
      { from: "example.com/upstream/api", fromModule: "example.com/upstream/api", to: "./staging/api" },
      { from: "example.com/upstream/FORBIDDEN", fromModule: "example.com/upstream/FORBIDDEN", to: "./FORBIDDEN_DEPENDENCY" },
      { from: "golang.org/x/text", fromModule: "golang.org/x/text", to: "golang.org/x/text v0.3.6" },
      { from: "github.com/old/dep v1.0.0", fromModule: "github.com/old/dep", to: "github.com/fork/dep v1.0.1" },
    ]);
  });

  test("wrapper module pins relative replaces to the sibling release and copies the others", () => {
    const mod = wrapperGoMod("demo", spec, upstream, false);
    assert.match(mod, /^module mooring\.local\/tools\/demo$/m);
    assert.match(mod, /^require example\.com\/upstream v1\.2\.3$/m);
    assert.match(mod, /^replace example\.com\/upstream\/api => example\.com\/upstream\/api v0\.2\.3$/m);
    assert.match(mod, /^replace golang\.org\/x\/text => golang\.org\/x\/text v0\.3\.6$/m);
    assert.match(mod, /^replace github\.com\/old\/dep v1\.0\.0 => github\.com\/fork\/dep v1\.0\.1$/m);
    assert.doesNotMatch(mod, /FORBIDDEN/);
    assert.doesNotMatch(mod, /=> \.\/src/);
  });

  test("a source override replaces the upstream module with the writable copy", () => {
    assert.match(wrapperGoMod("demo", spec, upstream, true), /^replace example\.com\/upstream => \.\/src$/m);
  });

  test("the cache lives under XDG_CACHE_HOME when set, else ~/.cache", () => {
    assert.equal(cacheRoot({ XDG_CACHE_HOME: "/x/cache" }), "/x/cache/mooring/tools");
    assert.match(cacheRoot({}), /\.cache\/mooring\/tools$/);
  });

  test("the pin file names every tool the project runs, each with a version check", () => {
    const tools = loadTools();
    const names = toolNames(tools).map((t) => t.name);
    for (const n of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kustomize", "pulumi", "pulumi-language-nodejs", "flux"]) {
      assert.ok(names.includes(n), `${n} is pinned`);
    }
    for (const t of toolNames(tools)) assert.ok(t.spec.check[t.name], `${t.name} has a version check`);
  });
});
