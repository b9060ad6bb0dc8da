// The runtime's informer against the real apiserver: list+watch, events for changes, and a re-list when
// the watch's resourceVersion is too old (410 Gone).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Informer } from "../../../controllers/runtime/informer";
import { KubeClient, type KubeObject, type ResourceRef } from "../../../controllers/runtime/kube";
import { newLogger } from "../../../controllers/runtime/log";
import { newNamespace, testKubeConfig, waitFor } from "../../harness/cluster";

const ConfigMaps: ResourceRef = { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true };

test("an informer resuming from an expired resourceVersion re-lists (410 Gone) and then follows changes", async (t) => {
  const ns = await newNamespace(t);
  const client = new KubeClient(testKubeConfig());
  await client.create(ConfigMaps, ns, { metadata: { name: "before" }, data: { a: "1" } });
  const informer = new Informer<KubeObject & { data?: Record<string, string> }>(client, ConfigMaps, newLogger("silent"), ns, "1");
  const seen: string[] = [];
  informer.on((event, obj) => seen.push(`${event}:${obj.metadata.name}`));
  const stop = new AbortController();
  const running = informer.run(stop.signal);
  t.after(async () => {
    stop.abort();
    await running;
  });
  await informer.waitForSync(stop.signal);
  assert.equal(informer.lists, 1, "the stale resourceVersion forced exactly one list");
  assert.equal(informer.get(`${ns}/before`)?.data?.a, "1");
  assert.equal(informer.get(`${ns}/before`)?.kind, "ConfigMap");
  await client.create(ConfigMaps, ns, { metadata: { name: "after" }, data: { b: "2" } });
  await client.patch(ConfigMaps, ns, "before", { data: { a: "2" } });
  await client.delete(ConfigMaps, ns, "after");
  await waitFor(() => informer.get(`${ns}/before`)?.data?.a === "2" && seen.includes(`delete:after`), { what: "watch events" });
  assert.deepEqual(seen.filter((s) => s.endsWith(":after")), ["add:after", "delete:after"]);
  assert.equal(informer.get(`${ns}/after`), undefined);
});
