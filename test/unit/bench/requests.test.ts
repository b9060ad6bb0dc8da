import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseRequestCounts, parseWatchCounts, requestDelta, watchDelta } from "../../../bench/requests";

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

const watchMetrics = (cm: number, ks: number) => `# TYPE apiserver_watch_events_total counter
apiserver_watch_events_total{component="apiserver",group="",resource="configmaps",version="v1"} ${cm}
apiserver_watch_events_total{component="apiserver",group="kustomize.toolkit.fluxcd.io",resource="kustomizations",version="v1"} ${ks}
apiserver_watch_events_sizes_sum{component="apiserver",group="kustomize.toolkit.fluxcd.io",resource="kustomizations",version="v1"} ${ks * 2000}
apiserver_watch_events_sizes_count{component="apiserver",group="kustomize.toolkit.fluxcd.io",resource="kustomizations",version="v1"} ${ks}
apiserver_request_total{code="0",component="apiserver",dry_run="",group="apps",resource="deployments",scope="cluster",subresource="",verb="WATCH",version="v1"} 4
`;

test("watch events and their bytes are read by resource and group", () => {
  const c = parseWatchCounts(watchMetrics(5, 10));
  assert.deepEqual(Object.fromEntries(c), {
    configmaps: { events: 5, bytes: 0 },
    "kustomizations.kustomize.toolkit.fluxcd.io": { events: 10, bytes: 20000 },
  });
});

test("the watch delta counts the events sent over the window, with their megabytes", () => {
  const d = watchDelta(parseWatchCounts(watchMetrics(5, 10)), parseWatchCounts(watchMetrics(6, 3010)));
  assert.equal(d.events, 3001);
  assert.equal(d.megabytes, 6);
  assert.deepEqual(d.byResource, { "kustomizations.kustomize.toolkit.fluxcd.io": 3000, other: 1 });
});
