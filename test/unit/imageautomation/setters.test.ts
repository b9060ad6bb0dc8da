// The Setters strategy edits only marked scalars, in place: a property test over generated YAML (comments,
// quoting styles, flow collections, anchors and aliases, several documents, CRLF line endings) checks that the
// output equals the input with exactly the marked values replaced, byte for byte, and still parses to the
// same data apart from those values.
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import * as Y from "yaml";
import { applySetters, parseMarker, SetterError } from "../../../controllers/imageautomation/setters";
import type { ImageRef } from "../../../controllers/api/image";

const policies = new Map<string, ImageRef>([
  ["flux-system:app", { name: "registry.local:5000/app", tag: "1.2.4" }],
  ["apps:web", { name: "ghcr.io/org/web", tag: "2.0.0", digest: "sha256:" + "a".repeat(64) }],
]);

// A small deterministic PRNG so a failure names the seed that reproduces it.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

interface Generated {
  text: string;
  /** What the output must be. */
  expected: string;
}

function generate(seed: number): Generated {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const eol = r() < 0.3 ? "\r\n" : "\n";
  const parts: { before: string; after: string }[] = [];
  const docs = 1 + Math.floor(r() * 3);
  for (let d = 0; d < docs; d++) {
    const lines: { before: string; after: string }[] = [];
    const add = (s: string, after = s) => lines.push({ before: s, after });
    if (d > 0 || r() < 0.3) add("---");
    if (r() < 0.5) add(pick(["# leading comment", "#no space comment", "# {\"other\": \"json\"}"]));
    add("apiVersion: apps/v1");
    add(pick(["kind: Deployment", "kind: 'CronJob'", 'kind: "Pod"']));
    add("metadata:");
    add(`  name: ${pick(["app", "'web'", '"x-1"'])}${pick(["", "  # name comment"])}`);
    add(`  labels: {a: b, "c": 'd'}${pick(["", " # flow"])}`);
    add("spec:");
    add(`  anchors: &base ${pick(["one", "'two'", '"three"'])}`);
    add("  alias: *base");
    add("  containers:");
    const n = 1 + Math.floor(r() * 3);
    for (let i = 0; i < n; i++) {
      const kind = pick(["whole", "tag", "name", "other", "digest", "none", "flowseq"] as const);
      const quote = pick(["", "'", '"'] as const);
      const q = (v: string) => (quote === "'" ? `'${v}'` : quote === '"' ? `"${v}"` : v);
      const sp = pick([" ", "  ", "\t"]);
      if (kind === "whole") add(`  - image: ${q("registry.local:5000/app:1.2.3")}${sp}# {"$imagepolicy": "flux-system:app"}`, `  - image: ${q("registry.local:5000/app:1.2.4")}${sp}# {"$imagepolicy": "flux-system:app"}`);
      else if (kind === "tag") add(`  - tag: ${q("1.0.0")} # {"$imagepolicy": "flux-system:app:tag"}`, `  - tag: ${q("1.2.4")} # {"$imagepolicy": "flux-system:app:tag"}`);
      else if (kind === "name") add(`  - repo: ${q("old/name")} #{"$imagepolicy":"apps:web:name"}`, `  - repo: ${q("ghcr.io/org/web")} #{"$imagepolicy":"apps:web:name"}`);
      else if (kind === "digest") add(`  - image: ${q("ghcr.io/org/web:1.0.0")} # {"$imagepolicy": "apps:web"}`, `  - image: ${q(`ghcr.io/org/web:2.0.0@sha256:${"a".repeat(64)}`)} # {"$imagepolicy": "apps:web"}`);
      else if (kind === "other") add(`  - image: ${q("x:1")} # {"$imagepolicy": "flux-system:unselected"}`);
      else if (kind === "flowseq") add(`  - args: [--a, "--b", 'c'] # trailing`);
      else add(`  - image: ${q("busybox:1.36")}${pick(["", " # pinned"])}`);
      if (r() < 0.4) add(`    env: [{name: A, value: "1"}]`);
      if (r() < 0.3) add("");
    }
    if (r() < 0.3) add("  script: |\n    echo 1.2.3 # {\"$imagepolicy\": \"flux-system:app\"}".replace(/\n/g, eol));
    lines.forEach((l) => parts.push(l));
  }
  const trailing = r() < 0.5 ? eol : "";
  return { text: parts.map((p) => p.before).join(eol) + trailing, expected: parts.map((p) => p.after).join(eol) + trailing };
}

describe("setters", () => {
  test("property: only the marked scalars change, every other byte stays (300 generated files)", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const g = generate(seed);
      const out = applySetters(g.text, "f.yaml", policies);
      assert.equal(out.text, g.expected, `seed ${seed}`);
      // The result still parses, with as many documents, and the aliases still resolve.
      const docs = Y.parseAllDocuments(out.text);
      assert.ok(Array.isArray(docs));
      for (const d of docs) assert.deepEqual(d.errors, [], `seed ${seed}`);
      assert.equal(out.changes.length > 0, g.text !== g.expected, `seed ${seed}`);
      // Applying again changes nothing.
      assert.equal(applySetters(out.text, "f.yaml", policies).text, out.text, `seed ${seed}`);
    }
  });

  test("changes name the object, the old and new value and the setter", () => {
    const text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: prod\nspec:\n  image: registry.local:5000/app:1.2.3 # {\"$imagepolicy\": \"flux-system:app\"}\n";
    const out = applySetters(text, "deploy.yaml", policies);
    assert.deepEqual(out.changes, [
      {
        object: { APIVersion: "apps/v1", Kind: "Deployment", Name: "app", Namespace: "prod" },
        change: { OldValue: "registry.local:5000/app:1.2.3", NewValue: "registry.local:5000/app:1.2.4", Setter: "flux-system:app" },
      },
    ]);
  });

  test("a plain scalar that would read back as a number is quoted", () => {
    const numeric = new Map<string, ImageRef>([["ns:p", { name: "r/app", tag: "10" }]]);
    const out = applySetters('tag: 9 # {"$imagepolicy": "ns:p:tag"}\n', "f.yaml", numeric);
    assert.equal(out.text, 'tag: "10" # {"$imagepolicy": "ns:p:tag"}\n');
  });

  test("malformed markers are errors naming the file and line", () => {
    assert.throws(() => applySetters('a: 1\nb: x # {"$imagepolicy": flux-system:app}\n', "dir/f.yaml", policies), (e: Error) => e instanceof SetterError && /dir\/f\.yaml:2: .*not JSON/.test(e.message));
    assert.throws(() => applySetters('b: x # {"$imagepolicy": "justname"}\n', "f.yaml", policies), (e: Error) => e instanceof SetterError && /want '<namespace>:<name>'/.test(e.message));
    assert.throws(() => applySetters('b: x # {"$imagepolicy": "ns:app:version"}\n', "f.yaml", policies), (e: Error) => e instanceof SetterError && /unknown field 'version'/.test(e.message));
    assert.throws(() => applySetters('b: [x # {"$imagepolicy": "ns:app"}\n', "f.yaml", policies), (e: Error) => e instanceof SetterError && /not valid YAML/.test(e.message));
  });

  test("parseMarker ignores comments that are not markers", () => {
    assert.equal(parseMarker(" # plain comment", "f"), undefined);
    assert.equal(parseMarker(' # {"other": "x"}', "f"), undefined);
    assert.deepEqual(parseMarker(' # {"$imagepolicy": "a:b:tag"}', "f"), { namespace: "a", name: "b", field: "tag", raw: "a:b:tag" });
  });
});
