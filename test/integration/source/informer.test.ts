// The runtime's informer against the real apiserver: resuming a watch from a resourceVersion, then
// following adds, updates and deletes.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Informer } from "../../../controllers/runtime/informer";
import { KubeClient, type KubeObject, type ResourceRef } from "../../../controllers/runtime/kube";
import { newLogger } from "../../../controllers/runtime/log";
import { newNamespace, testKubeConfig, waitFor } from "../../harness/cluster";

const ConfigMaps: ResourceRef = { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true };

test("an informer resumes from a resourceVersion (re-listing only on 410 Gone) and follows changes", async (t) => {
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
  // resourceVersion 1 is older than the apiserver's watch window: it answers with an ERROR event carrying
  // 410 Expired on the watch stream, and the informer re-lists once, then watches from the list.
  assert.equal(informer.lists, 1, "exactly one list, after the 410 (resuming did not list first)");
  await waitFor(() => informer.get(`${ns}/before`), { what: "the object created before the informer started" });
  assert.equal(informer.get(`${ns}/before`)?.data?.a, "1");
  assert.equal(informer.get(`${ns}/before`)?.kind, "ConfigMap");
  await client.create(ConfigMaps, ns, { metadata: { name: "after" }, data: { b: "2" } });
  await client.patch(ConfigMaps, ns, "before", { data: { a: "2" } });
  await client.delete(ConfigMaps, ns, "after");
  await waitFor(() => informer.get(`${ns}/before`)?.data?.a === "2" && seen.includes(`delete:after`), { what: "watch events" });
  assert.deepEqual(seen.filter((s) => s.endsWith(":after")), ["add:after", "delete:after"]);
  assert.equal(informer.get(`${ns}/after`), undefined);
});
