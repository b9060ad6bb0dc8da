// Flux fidelity on the real cluster: markers as labels or annotations in any case, bash-like substitution
// functions, SOPS-encrypted objects refused before anything is applied, and CEL health expressions.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigMaps, Secrets, cond, configMap, createKustomization, getOrUndefined, logsFor, newFleet, startKustomizeEnv, waitKs, type KustomizeEnv } from "./env";

type CM = { metadata: { labels?: Record<string, string> }; data: Record<string, string> };

const labelled = (name: string, ns: string, labels: Record<string, string>, data: Record<string, string>): string =>
  `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: ${ns}
  labels:
${Object.entries(labels).map(([k, v]) => `    ${k}: "${v}"`).join("\n")}
data:
${Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`).join("\n")}
`;

describe("Kustomization Flux fidelity", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("markers count as labels or annotations, in any case; prune leaves objects marked reconcile: disabled", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "app/ignored.yaml": labelled("ignored", ns, { "kustomize.toolkit.fluxcd.io/ssa": "ignore" }, { v: "git" }),
      "app/once.yaml": configMap("once", { v: "git" }, ns, { "kustomize.toolkit.fluxcd.io/ssa": "ifnotpresent" }),
      "app/kept.yaml": labelled("kept", ns, { "kustomize.toolkit.fluxcd.io/prune": "Disabled" }, { v: "git" }),
      "app/frozen.yaml": configMap("frozen", { v: "git" }, ns),
      "app/gone.yaml": configMap("gone", { v: "git" }, ns),
    });
    await createKustomization(env, ns, "app", { path: "./app" });
    await waitKs(env, ns, "app", "True");
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "ignored"), undefined, "ssa: ignore as a label is never applied");
    await env.admin.patch(ConfigMaps, ns, "once", { data: { v: "edited" } });
    // Marked on the live object only, as a label, in another case.
    await env.admin.patch(ConfigMaps, ns, "frozen", { metadata: { labels: { "kustomize.toolkit.fluxcd.io/reconcile": "DISABLED" } } });

    const rev = await fleet.commit({
      "app/once.yaml": configMap("once", { v: "git2" }, ns, { "kustomize.toolkit.fluxcd.io/ssa": "ifnotpresent" }),
      "app/kept.yaml": null,
      "app/frozen.yaml": null,
      "app/gone.yaml": null,
    });
    await waitKs(env, ns, "app", "True", (k) => k.status?.lastAppliedRevision === rev);
    assert.equal((await env.admin.get<CM>(ConfigMaps, ns, "once")).data.v, "edited", "ssa: ifnotpresent (lower case) never overwrites");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "kept"), "prune: Disabled as a label keeps the object");
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "frozen"), "reconcile: disabled on the live object keeps it from prune");
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "gone"), undefined, "unmarked objects are pruned");
  });

  test("substitution functions: substrings, replacement, length and case", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "app/cm.yaml": configMap("vars", { short: "${sha:0:7}", tail: "${sha: -4}", dns: "${host//./-}", first: "${host/./_}", len: "n=${#host}", upper: "${env^^}" }, ns),
    });
    await createKustomization(env, ns, "app", {
      path: "./app",
      postBuild: { substitute: { sha: "450796ddb2ab6724ee1cc32a4be56da032d1cca0", host: "a.b.example.com", env: "prod" } },
    });
    await waitKs(env, ns, "app", "True", undefined, 60_000);
    assert.deepEqual((await env.admin.get<CM>(ConfigMaps, ns, "vars")).data, { short: "450796d", tail: "cca0", dns: "a-b-example-com", first: "a_b.example.com", len: "n=15", upper: "PROD" });
  });

  test("a SOPS-encrypted Secret is refused with a message naming it, and nothing of the build is applied", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const rev = await fleet.commit({
      "app/cm.yaml": configMap("beside-secret", { a: "1" }, ns),
      "app/secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: ${ns}
stringData:
  password: ENC[AES256_GCM,data:c2VjcmV0,iv:aXY=,tag:dGFn,type:str]
sops:
  mac: ENC[AES256_GCM,data:bWFj,type:str]
  lastmodified: "2026-01-01T00:00:00Z"
  encrypted_regex: ^(data|stringData)$
  version: 3.9.0
`,
    });
    await createKustomization(env, ns, "app", { path: "./app", retryInterval: "1h" });
    const ks = await waitKs(env, ns, "app", "False");
    assert.equal(ks.status!.lastAttemptedRevision, rev);
    assert.equal(cond(ks, "Ready")!.reason, "ReconciliationFailed");
    assert.equal(
      cond(ks, "Ready")!.message,
      `Secret/${ns}/db is SOPS encrypted, configuring decryption is required for this object to be reconciled; nothing of this revision was applied`,
    );
    assert.ok(!logsFor(env, ns, "app").includes("c2VjcmV0"), "no ciphertext in the logs");
    assert.equal(await getOrUndefined(env.admin, Secrets, ns, "db"), undefined, "never applied as ciphertext");
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "beside-secret"), undefined, "nothing of the build applied");
  });

  test("healthCheckExprs decide the health of their kind: Current passes, Failed fails fast", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "ok/cm.yaml": configMap("ready", { state: "ready" }, ns),
      "bad/cm.yaml": configMap("broken", { state: "broken" }, ns),
    });
    const healthCheckExprs = [{ apiVersion: "v1", kind: "ConfigMap", current: "data.state == 'ready'", failed: "data.state == 'broken'" }];
    await createKustomization(env, ns, "ok", { path: "./ok", wait: true, timeout: "1m", healthCheckExprs });
    await createKustomization(env, ns, "bad", { path: "./bad", wait: true, timeout: "5m", retryInterval: "1h", healthCheckExprs });
    const ok = await waitKs(env, ns, "ok", "True");
    assert.equal(cond(ok, "Healthy")!.status, "True");
    const started = Date.now();
    const bad = await waitKs(env, ns, "bad", "False");
    assert.ok(Date.now() - started < 60_000, "a Failed expression ends the wait before the timeout");
    assert.equal(cond(bad, "Ready")!.reason, "HealthCheckFailed");
    assert.match(cond(bad, "Ready")!.message, new RegExp(`ConfigMap/${ns}/broken status: 'Failed': health check expression 'data.state == 'broken'' is true`));
    assert.equal(cond(bad, "Healthy")!.status, "False");
  });

  test("an invalid health expression stalls the Kustomization with a message naming it", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({ "app/cm.yaml": configMap("c", { state: "ready" }, ns) });
    await createKustomization(env, ns, "app", { path: "./app", wait: true, healthCheckExprs: [{ apiVersion: "v1", kind: "ConfigMap", current: "data.state ==" }] });
    const ks = await waitKs(env, ns, "app", "False");
    assert.equal(cond(ks, "Ready")!.reason, "HealthCheckFailed");
    assert.match(cond(ks, "Ready")!.message, /^healthCheckExprs\[0\]\.current: failed to parse the CEL expression 'data\.state =='/);
    assert.equal(cond(ks, "Stalled")?.status, "True");
  });
});
