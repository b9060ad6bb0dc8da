import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { checkedValues, plainBuild, plainBuildFiles, simpleValues, specTransforms } from "../../../controllers/kustomize/plainbuild";
import { kustomizeBuild } from "../../../controllers/kustomize/build";
import { prepareKustomization } from "../../../controllers/kustomize/generate";
import { toolPath } from "../../../local/tools";

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-plain-"));
  for (const [p, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), c);
  }
  return root;
}

type Obj = { kind: string; metadata: { name: string } };
const sorted = (objs: Obj[]) => [...objs].sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
const objects = (text: string) => sorted(parseAllDocuments(text).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null));

/** The files of a directory as an unpacked artifact holds them: relative paths, any order. */
const inMemory = (files: Record<string, string>, dir: string) =>
  Object.entries(files)
    .filter(([p]) => p.startsWith(`${dir}/`))
    .reverse()
    .map(([p, c]) => ({ path: p.slice(dir.length + 1), data: Buffer.from(c) }));

const plainFiles = {
  "app/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27 # pinned\n          env:\n            - {name: ON, value: \"on\"}\n            - {name: N, value: \"0644\"}\n",
  "app/more.yml": "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: shop}\ndata:\n  multi: |\n    line one\n    ---\n    line three\n",
  "app/deep/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  clusterIP: None\n  ports: [{port: 80}]\n",
  "app/values.yaml": "replicas: 3\n",
};

test("a directory of plain manifests builds in process to the objects kustomize prints", async () => {
  const root = tree(plainFiles);
  const ours = plainBuild(path.join(root, "app"), {});
  assert.ok(ours !== undefined);
  prepareKustomization(path.join(root, "app"), root, {});
  const theirs = await kustomizeBuild({ bin: await toolPath("kustomize"), dir: path.join(root, "app"), root, signal: AbortSignal.timeout(30_000) });
  assert.deepEqual(sorted(ours as Obj[]), objects(theirs));
  assert.equal(ours.length, 4);
});

test("the same directory built from memory gives the same objects in the same order as from disk", () => {
  const files = { ...plainFiles, "app/a/z.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: z}\n", "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "app/.hidden/h.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: h}\n", "app/notes.txt": "x" };
  const fromDisk = plainBuild(path.join(tree(files), "app"), {});
  const fromMemory = plainBuildFiles(inMemory(files, "app"), {});
  assert.ok(fromDisk && fromMemory);
  assert.deepEqual(fromMemory, fromDisk);
  assert.deepEqual(fromMemory.map((o) => o.metadata.name), ["z", "a", "web", "web", "web", "cfg"], "walk order: a/ before a.yaml, deep/ before deploy.yaml; dot dirs and non-YAML left out");
});

test("builds that need kustomize are left to it", () => {
  const cases: Record<string, string>[] = [
    { "app/kustomization.yaml": "resources: [a.yaml]\n", "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n" },
    { "app/base/kustomization.yaml": "resources: []\n", "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n" },
    { "app/list.yaml": "apiVersion: v1\nkind: List\nmetadata: {name: l}\nitems: []\n" },
    { "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: &d {k: v}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: *d\n" },
    { "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "app/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n" },
    { "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n" },
  ];
  for (const files of cases) {
    const root = tree(files);
    assert.equal(plainBuild(path.join(root, "app"), {}), undefined, JSON.stringify(files));
    if (!Object.keys(files).some((f) => f.includes("ustomization"))) assert.equal(plainBuildFiles(inMemory(files, "app"), {}), undefined, JSON.stringify(files));
  }
});

test("spec overrides and postBuild need kustomize or substitution", () => {
  assert.equal(specTransforms({}), false);
  assert.equal(specTransforms({ patches: [] }), false);
  for (const spec of [{ targetNamespace: "x" }, { namePrefix: "p-" }, { nameSuffix: "-s" }, { images: [{ name: "a", newTag: "1" }] }, { components: ["../c"] }, { postBuild: { substitute: { A: "b" } } }]) {
    assert.equal(specTransforms(spec), true, JSON.stringify(spec));
  }
  const root = tree({ "app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n" });
  assert.equal(plainBuild(path.join(root, "app"), { targetNamespace: "x" }), undefined);
  assert.equal(plainBuildFiles([{ path: "a.yaml", data: Buffer.from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n") }], { namePrefix: "p-" }), undefined);
});

test("the fast parser reads plain files exactly as the full parser does, and leaves the rest to it", () => {
  const same = [
    plainFiles["app/deploy.yaml"],
    plainFiles["app/more.yml"],
    plainFiles["app/deep/svc.yaml"],
    "a: 0x1F\nb: 0o17\nc: 017\nd: 1e3\ne: .5\nf: -.inf\ng: .NaN\nh: +12\ni: 12.0\nj: -0\nk: 9007199254740993\nl: 1.\n",
    "a: true\nb: True\nc: TRUE\nd: yes\ne: no\nf: on\ng: off\nh: y\ni: n\nj: False\n",
    "a: ~\nb: null\nc: Null\nd:\ne: NULL\nf: ''\n",
    'a: "tab\\there \\u00e9 \\x41"\nb: \'it\'\'s\'\nc: 2024-01-01\nd: 2001-12-14t21:59:43.10-05:00\ne: 12:30:00\nf: 1:20\n',
    "a: |\n  one\n  two\nb: >\n  folded\n  line\n\n  para\nc: |-\n  strip\nd: >+\n  keep\n\ne: |2\n    indented\n",
    "m: {a: 1, b: [x, y, {c: d}]}\ns: [1, two, 3.0, null]\nplain: this is\n  a multi-line\n  plain scalar\nkey with spaces: v\n'quoted: key': v\n",
    "# only a comment\n---\n---\napiVersion: v1 # trailing\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  url: http://example.com/path#frag\n  pct: 25%\n  colon: a:b\n",
    "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: crlf\r\ndata:\r\n  k: v\r\n",
    "\ufeffapiVersion: v1\nkind: Namespace\nmetadata:\n  name: bom\n",
    "list:\n- a\n- - nested\n  - seq\n- k: v\n  k2: v2\n",
  ];
  for (const text of same) {
    const fast = simpleValues(text);
    assert.ok(fast, `the fast parser takes ${JSON.stringify(text.slice(0, 40))}`);
    // Compared as the apply sends them: JSON (where -0 is 0).
    assert.equal(JSON.stringify(fast), JSON.stringify(checkedValues(text)), `same values for ${JSON.stringify(text.slice(0, 60))}`);
  }
  const left = ["a: &x 1\nb: *x\n", "a: !!str 1\n", "%YAML 1.2\n---\na: 1\n", "? complex\n: v\n", "n: 1_000\n", "n: 0b101\n", "<<: {a: 1}\n", "a: 1\na: 2\n", "a: [1, 2\n"];
  for (const text of left) assert.equal(simpleValues(text), undefined, `left to the full parser: ${JSON.stringify(text)}`);
});
