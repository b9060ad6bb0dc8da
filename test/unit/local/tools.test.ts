import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { applySourceCopies, cacheRoot, loadTools, parseReplaces, toolNames, ToolError, wantedTools, wrapperGoMod, type BuildSpec } from "../../../local/tools";

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
    for (const n of ["kube-apiserver", "kubelet", "kube-proxy", "coredns", "kustomize", "pulumi", "flux", "helm"]) assert.ok(plain.includes(n), n);
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
    for (const n of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kustomize", "pulumi", "pulumi-language-nodejs", "pulumi-resource-kubernetes", "flux", "helm"]) {
      assert.ok(names.includes(n), `${n} is pinned`);
    }
    for (const t of toolNames(tools)) assert.ok(t.spec.check[t.name], `${t.name} has a version check`);
  });

  test("the kubernetes provider plugin reports the version the @pulumi/kubernetes SDK asks for", async () => {
    const spec = loadTools().builds["pulumi-kubernetes"]!;
    const pkg = JSON.parse(await fs.readFile(require.resolve("@pulumi/kubernetes/package.json"), "utf8")) as { pulumi: { version: string } };
    assert.equal(spec.version, pkg.pulumi.version);
    assert.ok(spec.ldflags.includes(`-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${pkg.pulumi.version}`), spec.ldflags.join(" "));
    const schema = spec.sourceCopies?.["cmd/pulumi-resource-kubernetes/schema-embed.json"];
    assert.deepEqual(schema, { from: "cmd/pulumi-resource-kubernetes/schema.json", jsonSet: { version: pkg.pulumi.version } });
  });

  test("helm is stamped as its release build: its version, and the default Kubernetes version of its client-go", () => {
    const helm = loadTools().builds.helm!;
    assert.equal(helm.moduleVersion, `v${helm.version}`);
    assert.ok(helm.ldflags.includes(`-X helm.sh/helm/v3/internal/version.version=v${helm.version}`), helm.ldflags.join(" "));
    for (const pkg of ["pkg/lint/rules", "pkg/chartutil"]) {
      assert.ok(helm.ldflags.includes(`-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=1`), pkg);
      assert.ok(helm.ldflags.some((f) => new RegExp(`^-X helm\\.sh/helm/v3/${pkg.replace("/", "\\/")}\\.k8sVersionMinor=\\d+$`).test(f)), pkg);
    }
    assert.ok(new RegExp(helm.check.helm!.expect).test(`v${helm.version}`), "the check accepts what `helm version --short` prints");
  });
});

describe("source copies", () => {
  async function moduleCopy(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-srccopy-"));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    await fs.mkdir(path.join(dir, "cmd", "tool"), { recursive: true });
    await fs.writeFile(path.join(dir, "cmd", "tool", "schema.json"), '{\n  "name": "tool",\n  "version": "",\n  "types": {"a": 1}\n}\n');
    await fs.writeFile(path.join(dir, "cmd", "tool", "mapping.json"), "{ \"kept\": [1, 2] }\n");
    return dir;
  }

  test("copies a module file byte for byte, and sets top-level JSON fields where asked", async (t) => {
    const src = await moduleCopy(t);
    await applySourceCopies(src, "demo", {
      ...spec,
      sourceCopies: {
        "cmd/tool/schema-embed.json": { from: "cmd/tool/schema.json", jsonSet: { version: "1.2.3" } },
        "cmd/tool/mapping-embed.json": { from: "cmd/tool/mapping.json" },
      },
    });
    const schema = await fs.readFile(path.join(src, "cmd", "tool", "schema-embed.json"), "utf8");
    assert.deepEqual(JSON.parse(schema), { name: "tool", version: "1.2.3", types: { a: 1 } });
    assert.ok(!schema.includes("\n"), "written compactly");
    assert.equal(await fs.readFile(path.join(src, "cmd", "tool", "mapping-embed.json"), "utf8"), "{ \"kept\": [1, 2] }\n");
    assert.match(await fs.readFile(path.join(src, "cmd", "tool", "schema.json"), "utf8"), /"version": ""/, "the source file is left as it was");
  });

  test("a missing source, a non-JSON source with jsonSet, or a path outside the module is a clear error", async (t) => {
    const src = await moduleCopy(t);
    const copy = (sourceCopies: BuildSpec["sourceCopies"]) => applySourceCopies(src, "demo", { ...spec, sourceCopies });
    await assert.rejects(copy({ "x.json": { from: "cmd/tool/absent.json" } }), (err: Error) => err instanceof ToolError && /the module has no cmd\/tool\/absent\.json to copy to x\.json/.test(err.message));
    await fs.writeFile(path.join(src, "plain.txt"), "not json");
    await assert.rejects(copy({ "x.json": { from: "plain.txt", jsonSet: { version: "1" } } }), /plain\.txt is not JSON, so jsonSet cannot apply/);
    await fs.writeFile(path.join(src, "list.json"), "[1]");
    await assert.rejects(copy({ "x.json": { from: "list.json", jsonSet: { version: "1" } } }), /list\.json is not a JSON object/);
    await assert.rejects(copy({ "../escape.json": { from: "cmd/tool/schema.json" } }), /"\.\.\/escape\.json" in local\/tools\.json is not a path inside the module/);
    await assert.rejects(copy({ "x.json": { from: "/etc/hostname" } }), /"\/etc\/hostname" in local\/tools\.json is not a path inside the module/);
    await assert.rejects(fs.access(path.join(src, "..", "escape.json")));
  });
});
