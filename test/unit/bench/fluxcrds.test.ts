import { test } from "node:test";
import * as assert from "node:assert/strict";
import { missingFluxCrds } from "../../../bench/fluxcrds";
import { crds } from "../../../controllers/api";

test("stand-ins are added only for Flux source kinds our CRDs lack", () => {
  const ours = crds().map((c) => c.metadata.name);
  const stubs = missingFluxCrds(ours);
  assert.ok(stubs.length > 0);
  for (const s of stubs) assert.ok(!ours.includes(s.metadata.name));
  assert.ok(stubs.some((s) => s.metadata.name === "buckets.source.toolkit.fluxcd.io"));
  assert.deepEqual(missingFluxCrds([...ours, ...stubs.map((s) => s.metadata.name)]), []);
});
