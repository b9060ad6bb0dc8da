import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { applyOverrides, BuildError, checkReferences, isRemoteReference, prepareKustomization, scanResources } from "../../../controllers/kustomize/generate";
import { postBuild } from "../../../controllers/kustomize/build";
import { normalisePath } from "../../../controllers/kustomize/pipeline";

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-gen-"));
  for (const [p, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), c);
  }
  return root;
}

const cm = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`;

test("a generated kustomization lists object files recursively and subdirectories that have their own kustomization", () => {
  const root = tree({
    "apps/a.yaml": cm("a"),
    "apps/deep/b.yml": cm("b"),
    "apps/values.yaml": "replicas: 3\n",
    "apps/README.md": "# docs",
    "apps/.hidden/c.yaml": cm("c"),
    "apps/base/kustomization.yaml": "resources: [d.yaml]\n",
    "apps/base/d.yaml": cm("d"),
  });
  assert.deepEqual(scanResources(path.join(root, "apps"), root), ["a.yaml", "base", "deep/b.yml"]);
  const file = prepareKustomization(path.join(root, "apps"), root, { targetNamespace: "team" });
  const k = parse(fs.readFileSync(file, "utf8"));
  assert.equal(path.basename(file), "kustomization.yaml");
  assert.deepEqual(k.resources, ["a.yaml", "base", "deep/b.yml"]);
  assert.equal(k.namespace, "team");
});

test("invalid YAML in a generated directory names the file", () => {
  const root = tree({ "apps/bad.yaml": "a: [\n" });
  assert.throws(() => scanResources(path.join(root, "apps"), root), (e: Error) => e instanceof BuildError && /'apps\/bad\.yaml'/.test(e.message));
});

test("spec overrides are merged into an existing kustomization", () => {
  const k = applyOverrides({ resources: ["x.yaml"], namespace: "old", patches: [{ path: "p.yaml" }], images: [{ name: "a", newTag: "1" }] }, {
    targetNamespace: "new",
    namePrefix: "p-",
    nameSuffix: "-s",
    patches: [{ patch: "op", target: { kind: "Deployment" } }],
    images: [{ name: "nginx", newTag: "2" }],
    components: ["c1"],
  });
  assert.deepEqual(k, {
    resources: ["x.yaml"],
    namespace: "new",
    namePrefix: "p-",
    nameSuffix: "-s",
    patches: [{ path: "p.yaml" }, { patch: "op", target: { kind: "Deployment" } }],
    images: [{ name: "a", newTag: "1" }, { name: "nginx", newTag: "2" }],
    components: ["c1"],
  });
});

test("references must stay inside the artifact; remote bases are refused with noRemoteBases", () => {
  const root = tree({
    "ok/kustomization.yaml": "resources: [../base, cm.yaml]\n",
    "ok/cm.yaml": cm("x"),
    "base/kustomization.yaml": "resources: [b.yaml]\nconfigMapGenerator:\n  - name: g\n    files: [key=../../outside.txt]\n",
    "remote/kustomization.yaml": "resources:\n  - github.com/example/repo//deploy?ref=v1\n",
    "up/kustomization.yaml": "resources: [../../etc]\n",
  });
  assert.throws(() => checkReferences(path.join(root, "ok"), root, true), /'\.\.\/\.\.\/outside\.txt' in 'base\/kustomization\.yaml' points outside/);
  assert.throws(() => checkReferences(path.join(root, "remote"), root, true), /remote bases are not allowed/);
  checkReferences(path.join(root, "remote"), root, false);
  assert.throws(() => checkReferences(path.join(root, "up"), root, true), /points outside the source artifact/);
  for (const r of ["https://github.com/a/b", "git@github.com:a/b.git", "github.com/a/b//x?ref=main", "ssh://git@host/x"]) assert.ok(isRemoteReference(r), r);
  for (const r of ["../base", "apps", "./x.yaml"]) assert.ok(!isRemoteReference(r), r);
});

test("spec.path must stay inside the artifact", () => {
  assert.equal(normalisePath("./apps/"), "apps");
  assert.equal(normalisePath(undefined), "");
  assert.equal(normalisePath("/apps"), "apps");
  assert.throws(() => normalisePath("../x"), /outside the source artifact/);
});

test("post-build adds ownership labels and commonMetadata, substitutes unless opted out", () => {
  const out = postBuild(
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\ndata:\n  v: ${x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: n\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  v: ${x}\n",
    { vars: { x: "1" }, strict: true, owner: { name: "apps", namespace: "flux-system" }, commonMetadata: { labels: { team: "t" } } },
  );
  assert.equal((out[0] as unknown as { data: { v: number } }).data.v, 1);
  assert.equal((out[1] as unknown as { data: { v: string } }).data.v, "${x}");
  assert.deepEqual(out[0]!.metadata.labels, { team: "t", "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" });
  assert.throws(() => postBuild("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\ndata:\n  v: ${y}\n", { vars: {}, strict: true, owner: { name: "a", namespace: "b" } }), /ConfigMap\/n\/a.*"y"/);
});
