import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseRequestCounts, requestDelta } from "../../../bench/requests";

const metrics = (apply: number, dry: number, watch: number) => `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} ${apply}
apiserver_request_total{code="201",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} ${dry}
apiserver_request_total{code="200",component="apiserver",dry_run="",group="kustomize.toolkit.fluxcd.io",resource="kustomizations",scope="resource",subresource="status",verb="UPDATE",version="v1"} 3
apiserver_request_total{code="0",component="apiserver",dry_run="",group="apps",resource="deployments",scope="cluster",subresource="",verb="WATCH",version="v1"} ${watch}
apiserver_request_duration_seconds_count{verb="APPLY"} 99
`;

test("request counts are grouped by verb, resource, subresource and dry run; watches are left out", () => {
  const c = parseRequestCounts(metrics(10, 4, 7));
  assert.deepEqual(Object.fromEntries(c), {
    "APPLY deployments": 12,
    "APPLY deployments (dry run)": 4,
    "UPDATE kustomizations/status": 3,
  });
});

test("the delta keeps what grew, largest first, and sums the small groups as other", () => {
  const before = parseRequestCounts(metrics(10, 4, 7));
  const after = parseRequestCounts(metrics(1010, 504, 9));
  after.set("GET namespaces", 5);
  const d = requestDelta(before, after);
  assert.equal(d.total, 1505);
  assert.deepEqual(Object.keys(d.byKind), ["APPLY deployments", "APPLY deployments (dry run)", "other"]);
  assert.equal(d.byKind.other, 5);
});
