import { test } from "node:test";
import * as assert from "node:assert/strict";
import { defaultMatcher, IgnoreMatcher, parsePatterns } from "../../../controllers/source/ignore";

test("Flux's default excludes drop VCS, CI files and binary extensions at any depth", () => {
  const m = defaultMatcher();
  assert.equal(m.ignores(".git", true), true);
  assert.equal(m.ignores(".github", true), true);
  assert.equal(m.ignores("img/logo.png", false), true);
  assert.equal(m.ignores("deep/dir/.sops.yaml", false), true);
  assert.equal(m.ignores("apps/deploy.yaml", false), false);
  assert.equal(m.ignores(".git", false), false, "dir-only pattern does not match a file");
});

test("unanchored names match at any level; a slash anchors to the domain", () => {
  const m = new IgnoreMatcher(parsePatterns("secret.txt\n/root-only.yaml\ndocs/*.md\n"));
  assert.equal(m.ignores("secret.txt", false), true);
  assert.equal(m.ignores("a/b/secret.txt", false), true);
  assert.equal(m.ignores("root-only.yaml", false), true);
  assert.equal(m.ignores("sub/root-only.yaml", false), false);
  assert.equal(m.ignores("docs/readme.md", false), true);
  assert.equal(m.ignores("docs/deep/readme.md", false), false, "* does not cross directories");
});

test("** globs, character classes, ? and negation (last match wins)", () => {
  const m = new IgnoreMatcher(parsePatterns("**/tmp/**\n*.[ch]\nfile?.txt\n*.yaml\n!keep.yaml\n"));
  assert.equal(m.ignores("a/tmp/x/y", false), true);
  assert.equal(m.ignores("tmp/x", false), true);
  assert.equal(m.ignores("src/main.c", false), true);
  assert.equal(m.ignores("src/main.go", false), false);
  assert.equal(m.ignores("file1.txt", false), true);
  assert.equal(m.ignores("file10.txt", false), false);
  assert.equal(m.ignores("x.yaml", false), true);
  assert.equal(m.ignores("sub/keep.yaml", false), false);
});

test("patterns from a nested .sourceignore apply only under its directory", () => {
  const m = new IgnoreMatcher(parsePatterns("*.txt\n/local.yaml\n", "apps/dev"));
  assert.equal(m.ignores("apps/dev/notes.txt", false), true);
  assert.equal(m.ignores("apps/dev/x/notes.txt", false), true);
  assert.equal(m.ignores("apps/prod/notes.txt", false), false);
  assert.equal(m.ignores("notes.txt", false), false);
  assert.equal(m.ignores("apps/dev/local.yaml", false), true);
  assert.equal(m.ignores("apps/dev/x/local.yaml", false), false);
});

test("comments, blank lines and escapes", () => {
  const m = new IgnoreMatcher(parsePatterns("# comment\n\n\\#hash\n\\!bang\n"));
  assert.equal(m.ignores("#hash", false), true);
  assert.equal(m.ignores("!bang", false), true);
  assert.equal(m.ignores("comment", false), false);
});
