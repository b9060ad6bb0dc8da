// The Manager's pure parts: the lease name of a shard, and bad tuning values refused with the flag they came
// from. Sharding itself runs against the real apiserver in test/integration/runtime/manager.test.ts.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Manager, shardLeaseName, type ManagerOptions } from "../../../controllers/runtime/manager";
import { StaticKubeConfig } from "../../../controllers/runtime/kubeconfig";
import { newLogger } from "../../../controllers/runtime/log";

// Constructed only: the manager never runs, so the address is never contacted.
const manager = (extra: Partial<ManagerOptions> = {}) =>
  new Manager({ kubeConfig: new StaticKubeConfig({ server: "https://127.0.0.1:6443" }), log: newLogger("silent"), component: "test-controller", ...extra });

test("each shard elects its own leader: the lease name carries a digest of the selector", () => {
  assert.equal(shardLeaseName("kustomize-controller-leader-election", undefined), "kustomize-controller-leader-election");
  const a = shardLeaseName("kustomize-controller-leader-election", "sharding.fluxcd.io/key=shard1");
  const b = shardLeaseName("kustomize-controller-leader-election", "!sharding.fluxcd.io/key");
  assert.match(a, /^kustomize-controller-leader-election-[0-9a-f]{8}$/);
  assert.notEqual(a, b);
  assert.equal(a, shardLeaseName("kustomize-controller-leader-election", "sharding.fluxcd.io/key=shard1"), "stable across processes");
});

test("bad tuning values are refused naming the flag", () => {
  assert.throws(() => manager({ kubeApiQps: 0 }), /--kube-api-qps/);
  assert.throws(() => manager({ kubeApiBurst: -1 }), /--kube-api-burst/);
  assert.throws(() => manager({ minRetryDelayMs: 2_000, maxRetryDelayMs: 1_000 }), /--min-retry-delay \(2000 ms\) is longer than --max-retry-delay/);
  assert.throws(() => manager({ intervalJitterPercentage: 100 }), /--interval-jitter-percentage must be in \[0, 100\)/);
  assert.throws(() => manager({ watchLabelSelector: " a=b" }), /--watch-label-selector/);
  assert.doesNotThrow(() => manager({ kubeApiQps: 50, kubeApiBurst: 300, minRetryDelayMs: 750, maxRetryDelayMs: 900_000, intervalJitterPercentage: 5 }));
});
