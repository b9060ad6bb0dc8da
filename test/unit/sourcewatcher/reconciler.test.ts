import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ReconcileError } from "../../../controllers/runtime/errors";
import { artifactRevisions, observedSourcesDigest, validateGenerator } from "../../../controllers/sourcewatcher/reconciler";
import type { ArtifactGenerator } from "../../../controllers/api/source-extensions";
import { crds } from "../../../controllers/api";

const gen = (spec: Partial<ArtifactGenerator["spec"]>): ArtifactGenerator => ({
  apiVersion: "source.extensions.fluxcd.io/v1beta1",
  kind: "ArtifactGenerator",
  metadata: { name: "apps", namespace: "team" },
  spec: { sources: [{ alias: "repo", kind: "GitRepository", name: "mono" }], artifacts: [{ name: "app", copy: [{ from: "@repo/app/**", to: "@artifact/" }] }], ...spec },
});

const stalledWith = (re: RegExp, reason = "ValidationFailed") => (e: unknown) => e instanceof ReconcileError && e.stalled && e.reason === reason && re.test(e.message);

test("validateGenerator: alias clash, unknown aliases, duplicate names and traversal are terminal ValidationFailed", () => {
  validateGenerator(gen({}));
  assert.throws(() => validateGenerator(gen({ sources: [{ alias: "repo", kind: "GitRepository", name: "a" }, { alias: "repo", kind: "OCIRepository", name: "b" }] })), stalledWith(/duplicate source alias 'repo' found/));
  assert.throws(() => validateGenerator(gen({ artifacts: [{ name: "app", copy: [{ from: "@nope/x", to: "@artifact/" }] }] })), stalledWith(/artifact app: copy from '@nope\/x' to '@artifact\/': source alias 'nope' is not in spec.sources/));
  assert.throws(() => validateGenerator(gen({ artifacts: [{ name: "app", copy: [{ from: "@repo/x", to: "@artifact/../up" }] }] })), stalledWith(/must not contain '..'/));
  assert.throws(() => validateGenerator(gen({ artifacts: [{ name: "app", revision: "@other", copy: [{ from: "@repo/x", to: "@artifact/" }] }] })), stalledWith(/artifact app revision source alias 'other' not found/));
  const twice = { name: "app", copy: [{ from: "@repo/x", to: "@artifact/" }] };
  assert.throws(() => validateGenerator(gen({ artifacts: [twice, twice] })), stalledWith(/duplicate artifact name 'app'/));
});

test("validateGenerator: cross-namespace sources are refused with --no-cross-namespace-refs", () => {
  const g = gen({ sources: [{ alias: "repo", kind: "GitRepository", name: "mono", namespace: "flux-system" }] });
  validateGenerator(g, false);
  assert.throws(() => validateGenerator(g, true), stalledWith(/cross-namespace reference to source GitRepository\/flux-system\/mono is not allowed/, "AccessDenied"));
});

test("artifactRevisions: latest@<digest> by default, a source's revision with '@alias', originRevision passed through", () => {
  const sources = new Map([
    ["repo", { alias: "repo", subject: "GitRepository/team/mono", digest: "sha256:aa", revision: "main@sha1:abc", url: "http://x/a" }],
    ["oci", { alias: "oci", subject: "OCIRepository/team/c", digest: "sha256:bb", revision: "1.0.0@sha256:bb", originRevision: "main@sha1:def", url: "http://x/b" }],
  ]);
  assert.deepEqual(artifactRevisions({ name: "a", copy: [] }, "sha256:ff", sources), { revision: "latest@sha256:ff" });
  assert.deepEqual(artifactRevisions({ name: "a", revision: "@repo", copy: [] }, "sha256:ff", sources), { revision: "main@sha1:abc" });
  assert.deepEqual(artifactRevisions({ name: "a", originRevision: "@repo", copy: [] }, "sha256:ff", sources), { revision: "latest@sha256:ff", metadata: { "org.opencontainers.image.revision": "main@sha1:abc" } });
  assert.deepEqual(artifactRevisions({ name: "a", originRevision: "@oci", copy: [] }, "sha256:ff", sources).metadata, { "org.opencontainers.image.revision": "main@sha1:def" });
});

test("observedSourcesDigest changes with any source's revision and not with their order", () => {
  const a = { alias: "a", subject: "", digest: "sha256:1", revision: "r1", url: "u" };
  const b = { alias: "b", subject: "", digest: "sha256:2", revision: "r2", url: "u" };
  assert.equal(observedSourcesDigest([a, b]), observedSourcesDigest([b, a]));
  assert.notEqual(observedSourcesDigest([a, b]), observedSourcesDigest([a, { ...b, revision: "r3" }]));
});

test("the CRDs include ExternalArtifact (source.toolkit.fluxcd.io/v1) and ArtifactGenerator (source.extensions.fluxcd.io/v1beta1)", () => {
  const names = crds().map((c) => c.metadata.name);
  assert.ok(names.includes("externalartifacts.source.toolkit.fluxcd.io"));
  assert.ok(names.includes("artifactgenerators.source.extensions.fluxcd.io"));
  const ag = crds().find((c) => c.metadata.name === "artifactgenerators.source.extensions.fluxcd.io")!;
  const version = (ag.spec.versions as { name: string; schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, { items?: { properties?: Record<string, unknown> } }> } } } } }[])[0]!;
  assert.equal(version.name, "v1beta1");
  const copy = version.schema.openAPIV3Schema.properties.spec.properties.artifacts!.items!.properties!.copy as { items: { properties: { strategy: { enum: string[] } } } };
  assert.deepEqual(copy.items.properties.strategy.enum, ["Overwrite", "Merge", "Extract"]);
});
