import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatRevision, parseLsRemote, pickSemverTag, revisionSha, selectCheckout } from "../../../controllers/source/refs";

const sha = (c: string) => c.repeat(40);
const lsRemote = [
  `${sha("a")}\tHEAD`,
  `${sha("a")}\trefs/heads/main`,
  `${sha("b")}\trefs/heads/master`,
  `${sha("c")}\trefs/tags/v1.0.0`,
  `${sha("d")}\trefs/tags/v1.2.0`,
  `${sha("e")}\trefs/tags/v1.2.0^{}`,
  `${sha("f")}\trefs/tags/v2.0.0-rc.1`,
  `${sha("1")}\trefs/tags/v1.10.3`,
  `${sha("2")}\trefs/tags/not-a-version`,
  `${sha("3")}\trefs/pull/7/head`,
].join("\n");
const refs = parseLsRemote(lsRemote);

test("ls-remote parsing peels annotated tags to their commit", () => {
  assert.equal(refs.get("refs/tags/v1.2.0"), sha("e"));
  assert.equal(refs.get("refs/tags/v1.0.0"), sha("c"));
  assert.equal(refs.has("refs/tags/v1.2.0^{}"), false);
});

test("branch (default master), tag, name and revisions in Flux's format", () => {
  assert.deepEqual(selectCheckout(undefined, refs), { fetchRef: "refs/heads/master", sha: sha("b"), name: "master" });
  const main = selectCheckout({ branch: "main" }, refs);
  assert.equal(formatRevision(main.name, main.sha!), `main@sha1:${sha("a")}`);
  const tag = selectCheckout({ tag: "v1.2.0", branch: "main" }, refs);
  assert.equal(formatRevision(tag.name, tag.sha!), `v1.2.0@sha1:${sha("e")}`);
  const pr = selectCheckout({ name: "refs/pull/7/head", tag: "v1.0.0" }, refs);
  assert.equal(formatRevision(pr.name, pr.sha!), `refs/pull/7/head@sha1:${sha("3")}`);
  assert.equal(formatRevision("", sha("9")), `sha1:${sha("9")}`);
  assert.equal(revisionSha(`main@sha1:${sha("a")}`), sha("a"));
});

test("precedence: commit > name > semver > tag > branch", () => {
  assert.equal(selectCheckout({ branch: "main", tag: "v1.0.0" }, refs).name, "v1.0.0");
  assert.equal(selectCheckout({ tag: "v1.0.0", semver: "^1.0.0" }, refs).name, "v1.10.3");
  assert.equal(selectCheckout({ semver: "^1.0.0", name: "refs/heads/main" }, refs).name, "refs/heads/main");
  const c = selectCheckout({ name: "refs/heads/main", commit: sha("4"), branch: "main" }, refs);
  assert.deepEqual(c, { fetchRef: "refs/heads/main", name: "main", commit: sha("4") });
  assert.deepEqual(selectCheckout({ commit: sha("4") }, undefined), { name: "", commit: sha("4") });
});

test("semver ranges pick the highest matching tag; prereleases only when asked", () => {
  assert.equal(pickSemverTag(">=1.0.0 <1.5.0", refs), "v1.2.0");
  assert.equal(pickSemverTag(">=1.0.0, <1.5.0", refs), "v1.2.0", "Masterminds comma means AND");
  assert.equal(pickSemverTag("1.0.x || >=1.10.0 <2.0.0", refs), "v1.10.3");
  assert.equal(pickSemverTag("*", refs), "v1.10.3");
  assert.equal(pickSemverTag(">=2.0.0-rc.0", refs), "v2.0.0-rc.1");
});

test("unknown refs and unmatched ranges are errors naming the input", () => {
  assert.throws(() => selectCheckout({ branch: "nope" }, refs), /branch 'nope' not found/);
  assert.throws(() => selectCheckout({ tag: "v9" }, refs), /tag 'v9' not found/);
  assert.throws(() => selectCheckout({ semver: ">=3.0.0" }, refs), /no tag matches semver range '>=3.0.0'/);
  assert.throws(() => selectCheckout({ semver: "not a range!" }, refs), /semver range 'not a range!' is invalid/);
  assert.throws(() => selectCheckout({ name: "main" }, refs), /must start with 'refs\/'/);
  assert.throws(() => selectCheckout({ commit: "xyz" }, refs), /invalid commit/);
});
