import { test } from "node:test";
import * as assert from "node:assert/strict";
import { applyExcluded, forceEnabled, hasMarker, pruneExcluded, reconcileDisabled, ssaIfNotPresent, ssaIgnore, ssaMerge } from "../../../controllers/kustomize/markers";

const withLabel = (key: string, value: string) => ({ metadata: { labels: { [key]: value } } });
const withAnnotation = (key: string, value: string) => ({ metadata: { annotations: { [key]: value } } });
const k = (name: string) => `kustomize.toolkit.fluxcd.io/${name}`;

test("a marker counts as a label or as an annotation", () => {
  assert.ok(reconcileDisabled(withLabel(k("reconcile"), "disabled")));
  assert.ok(reconcileDisabled(withAnnotation(k("reconcile"), "disabled")));
  assert.ok(forceEnabled(withLabel(k("force"), "enabled")));
  assert.ok(forceEnabled(withAnnotation(k("force"), "enabled")));
  assert.ok(pruneExcluded(withLabel(k("prune"), "disabled")));
  assert.ok(pruneExcluded(withAnnotation(k("prune"), "disabled")));
});

test("marker values are compared without regard to case", () => {
  assert.ok(reconcileDisabled(withAnnotation(k("reconcile"), "Disabled")));
  assert.ok(forceEnabled(withLabel(k("force"), "ENABLED")));
  assert.ok(ssaIgnore(withAnnotation(k("ssa"), "Ignore")));
  assert.ok(ssaIgnore(withLabel(k("ssa"), "ignore")));
  assert.ok(ssaIfNotPresent(withAnnotation(k("ssa"), "IfNotPresent")));
  assert.ok(ssaIfNotPresent(withLabel(k("ssa"), "ifnotpresent")));
  assert.ok(ssaMerge(withAnnotation(k("ssa"), "merge")));
  assert.ok(ssaMerge(withLabel(k("ssa"), "Merge")));
});

test("other values, empty values, other keys and missing metadata do not count", () => {
  assert.ok(!reconcileDisabled(withAnnotation(k("reconcile"), "enabled")));
  assert.ok(!reconcileDisabled(withAnnotation(k("reconcile"), "")));
  assert.ok(!hasMarker(withAnnotation(k("reconcile"), ""), k("reconcile"), ""));
  assert.ok(!forceEnabled(withAnnotation(k("prune"), "enabled")));
  assert.ok(!forceEnabled({}));
  assert.ok(!forceEnabled(undefined));
  assert.ok(!ssaMerge(withAnnotation(k("ssa"), "IfNotPresent")));
});

test("apply skips reconcile: disabled or ssa: Ignore, on the manifest or on the live object", () => {
  assert.ok(applyExcluded(withLabel(k("reconcile"), "disabled"), undefined));
  assert.ok(applyExcluded({}, withAnnotation(k("reconcile"), "Disabled")));
  assert.ok(applyExcluded({}, withLabel(k("ssa"), "Ignore")));
  assert.ok(!applyExcluded({}, withAnnotation(k("ssa"), "IfNotPresent")), "IfNotPresent is decided on existence, not excluded outright");
  assert.ok(!applyExcluded({}, {}));
});

test("prune leaves objects marked prune: disabled or reconcile: disabled", () => {
  assert.ok(pruneExcluded(withAnnotation(k("reconcile"), "disabled")));
  assert.ok(pruneExcluded(withLabel(k("reconcile"), "DISABLED")));
  assert.ok(pruneExcluded(withAnnotation(k("prune"), "Disabled")));
  assert.ok(!pruneExcluded(withAnnotation(k("prune"), "enabled")));
  assert.ok(!pruneExcluded(withAnnotation(k("force"), "enabled")));
});
