// dependsOn chains: c → b → a. Nothing of a Kustomization is applied before its dependency is Ready at the
// source's revision; the waiting ones report DependencyNotReady naming the dependency; all end Ready in order.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigMaps, cond, configMap, createKustomization, getOrUndefined, newFleet, ready, startKustomizeEnv, stuckClaim, waitKs, Kustomizations, type KustomizeEnv } from "./env";
import type { Kustomization } from "../../../controllers/api";

type Meta = { metadata: { creationTimestamp: string } };


describe("Kustomization dependsOn chain", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("c → b → a: c waits for b, b waits for a (DependencyNotReady), then all become Ready in order", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "a/pvc.yaml": stuckClaim(ns),
      "b/cm.yaml": configMap("from-b", { layer: "b" }, ns),
      "c/cm.yaml": configMap("from-c", { layer: "c" }, ns),
    });
    // Created in reverse order, so creation order cannot explain the apply order.
    await createKustomization(env, ns, "c", { path: "./c", dependsOn: [{ name: "b" }] });
    await createKustomization(env, ns, "b", { path: "./b", dependsOn: [{ name: "a" }] });
    await createKustomization(env, ns, "a", { path: "./a", wait: true, timeout: "2s", retryInterval: "2s" });

    const a0 = await waitKs(env, ns, "a", "False");
    assert.equal(cond(a0, "Ready")!.reason, "HealthCheckFailed");
    // c (and b) may first see its dependency "not found" (it is created first); then "not ready".
    const notReady = (k: Kustomization) => /is not ready$/.test(cond(k, "Ready")?.message ?? "");
    const b0 = await waitKs(env, ns, "b", "False", notReady);
    assert.equal(cond(b0, "Ready")!.reason, "DependencyNotReady");
    assert.equal(cond(b0, "Ready")!.message, `dependency '${ns}/a' is not ready`);
    const c0 = await waitKs(env, ns, "c", "False", notReady);
    assert.equal(cond(c0, "Ready")!.reason, "DependencyNotReady");
    assert.equal(cond(c0, "Ready")!.message, `dependency '${ns}/b' is not ready`);
    // Several dependency requeues (2 s) and retries of "a" later, still nothing of b or c.
    await new Promise((r) => setTimeout(r, 4500));
    for (const [name, dep] of [["b", "a"], ["c", "b"]] as const) {
      const k = await env.admin.get<Kustomization>(Kustomizations, ns, name);
      assert.equal(cond(k, "Ready")!.reason, "DependencyNotReady", `${name} still waiting`);
      assert.match(cond(k, "Ready")!.message, new RegExp(`'${ns}/${dep}'`));
      assert.equal(k.status!.lastAppliedRevision, undefined, `${name} applied nothing`);
      assert.equal(k.status!.inventory, undefined, `${name} has no inventory`);
    }
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "from-b"), undefined, "b not applied before a is Ready");
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "from-c"), undefined, "c not applied before b is Ready");

    // Watch the chain unwind: at every sample, an applied object of c implies b was Ready, and of b that a was.
    // Objects are read before statuses. None of a, b, c was Ready before the commit below (a's claim never
    // binds) and a Ready Kustomization stays Ready in this test, so Ready here means Ready at the new revision
    // and a violation seen here is a real "applied before the dependency was Ready". Sampling starts before the
    // commit, and one more sample is taken after c is Ready, so a chain that unwinds between two samples is
    // still seen.
    const firstReady: Record<string, number> = {};
    const firstApplied: Record<string, number> = {};
    const violations: string[] = [];
    const sample = async () => {
      const cmB = await getOrUndefined(env.admin, ConfigMaps, ns, "from-b");
      const cmC = await getOrUndefined(env.admin, ConfigMaps, ns, "from-c");
      const ks = Object.fromEntries(await Promise.all(["a", "b", "c"].map(async (n) => [n, await env.admin.get<Kustomization>(Kustomizations, ns, n)] as const)));
      const now = Date.now();
      const isReady = (n: string) => ready(ks[n]!)?.status === "True";
      for (const n of ["a", "b", "c"]) if (isReady(n)) firstReady[n] ??= now;
      if (cmB) firstApplied.b ??= now;
      if (cmC) firstApplied.c ??= now;
      if (cmB && !isReady("a")) violations.push(`b applied while a not Ready: ${JSON.stringify(ks.a!.status?.conditions)}`);
      if (cmC && !isReady("b")) violations.push(`c applied while b not Ready: ${JSON.stringify(ks.b!.status?.conditions)}`);
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample();
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    let rev: string;
    try {
      rev = await fleet.commit({ "a/pvc.yaml": null, "a/cm.yaml": configMap("from-a", { layer: "a" }, ns) });
      await waitKs(env, ns, "c", "True", (k) => k.status?.lastAppliedRevision === rev, 60_000);
    } finally {
      sampling = false;
      await sampler;
    }
    await sample();
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => env.admin.get<Kustomization>(Kustomizations, ns, n)));
    for (const k of [a!, b!, c!]) {
      assert.equal(cond(k, "Ready")!.status, "True", `${k.metadata.name} Ready`);
      assert.equal(k.status!.lastAppliedRevision, rev, `${k.metadata.name} applied ${rev}`);
    }
    assert.deepEqual(violations, [], "no Kustomization was applied before its dependency was Ready");
    assert.ok(firstReady.a !== undefined && firstReady.b !== undefined && firstReady.c !== undefined, JSON.stringify(firstReady));
    assert.ok(firstReady.a <= firstReady.b && firstReady.b <= firstReady.c, `Ready order a ≤ b ≤ c, saw ${JSON.stringify(firstReady)}`);
    // Condition transitions and object creation (second resolution) agree.
    const readyAt = (k: Kustomization) => Date.parse(cond(k, "Ready")!.lastTransitionTime);
    assert.ok(readyAt(a!) <= readyAt(b!) && readyAt(b!) <= readyAt(c!), "Ready transition times in order a, b, c");
    const created = async (name: string) => Date.parse((await env.admin.get<Meta>(ConfigMaps, ns, name)).metadata.creationTimestamp);
    const [ca, cb, cc] = [await created("from-a"), await created("from-b"), await created("from-c")];
    assert.ok(ca <= cb && cb <= cc, "objects created in order a, b, c");
    t.diagnostic(`dependsOn chain after a was Ready: b +${firstReady.b - firstReady.a} ms, c +${firstReady.c - firstReady.a} ms`);
  });
});
