import { test } from "node:test";
import * as assert from "node:assert/strict";
import { fluxSourceKinds, missingFluxCrds } from "../../../bench/fluxcrds";
import { crds } from "../../../controllers/api";

test("stand-ins are added only for Flux source kinds our CRDs lack", () => {
  const ours = crds().map((c) => c.metadata.name);
  const stubs = missingFluxCrds(ours);
  for (const s of stubs) assert.ok(!ours.includes(s.metadata.name));
  for (const k of fluxSourceKinds) {
    const name = `${k.plural}.source.toolkit.fluxcd.io`;
    assert.equal(stubs.some((s) => s.metadata.name === name), !ours.includes(name), name);
  }
  assert.ok(ours.includes("buckets.source.toolkit.fluxcd.io"), "Bucket is served, so never stubbed");
  assert.deepEqual(missingFluxCrds([...ours, ...stubs.map((s) => s.metadata.name)]), []);
});
