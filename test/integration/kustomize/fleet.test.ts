// A Flux-style fleet repository (examples/fleet: clusters/<name> with Kustomizations for infrastructure and
// apps, infrastructure/, apps/ base + overlay with a configMapGenerator, a patch and an image override)
// reconciles to what `kustomize build` + `kubectl apply --server-side` make of the same tree.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFile, execFileSync, spawn } from "node:child_process";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { projectRoot, toolPath } from "../../../local/tools";
import { newNamespace } from "../../harness/cluster";
import type { ResourceRef } from "../../../controllers/runtime/kube";
import type { Kustomization } from "../../../controllers/api";
import { ConfigMaps, Deployments, Kustomizations, Namespaces, Services, cond, createKustomization, newFleet, startKustomizeEnv, waitKs, type KustomizeEnv } from "./env";

const run = promisify(execFile);

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

const refs: Record<string, ResourceRef> = { ConfigMap: ConfigMaps, Deployment: Deployments, Service: Services, Namespace: Namespaces };
const OwnerLabels = ["kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"];

/** The files of examples/fleet, with its namespaces renamed for this test. */
function fleetFiles(rename: (content: string) => string): Record<string, string> {
  const root = path.join(projectRoot(), "examples", "fleet");
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else files[path.relative(root, full)] = rename(fs.readFileSync(full, "utf8"));
    }
  };
  walk(root);
  return files;
}

/** The fields the rendered object sets that the live object does not have with the same value. */
function subsetDiff(want: unknown, got: unknown, at = ""): string[] {
  if (want === undefined) return [];
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) return [`${at}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`];
    return want.flatMap((w, i) => subsetDiff(w, got[i], `${at}[${i}]`));
  }
  if (want !== null && typeof want === "object") {
    if (got === null || typeof got !== "object") return [`${at}: want object, got ${JSON.stringify(got)}`];
    return Object.entries(want as Record<string, unknown>).flatMap(([k, v]) => subsetDiff(v, (got as Record<string, unknown>)[k], `${at}.${k}`));
  }
  return String(want) === String(got) ? [] : [`${at}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`];
}

const without = (o: Record<string, string> | undefined, keys: string[]) => Object.fromEntries(Object.entries(o ?? {}).filter(([k]) => !keys.includes(k)));

/** The fields compared between the controller's and kubectl's objects: spec (minus allocated IPs), data, labels, annotations. */
function comparable(o: Obj): unknown {
  const spec = o.spec ? { ...o.spec } : undefined;
  if (o.kind === "Service" && spec) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  return {
    spec,
    data: o.data,
    labels: without(o.metadata.labels, [...OwnerLabels, "kubernetes.io/metadata.name"]),
    annotations: without(o.metadata.annotations, ["deployment.kubernetes.io/revision"]),
  };
}

describe("Flux-style fleet repository", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("clusters/local → infrastructure → apps overlay: the same objects as kustomize build + kubectl apply --server-side", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    const suffix = ns.slice(-6);
    const appNs = `podinfo-${suffix}`;
    // The second namespace set, for kubectl.
    const ns2 = await newNamespace(`fleet-kubectl-${suffix}`);
    const appNs2 = `podinfo-kubectl-${suffix}`;
    t.after(async () => {
      for (const n of [appNs, appNs2, ns2]) await env.admin.delete(Namespaces, undefined, n).catch(() => undefined);
    });
    const files = fleetFiles((c) =>
      c
        .replace(/namespace: flux-system/g, `namespace: ${ns}`)
        .replace(/name: flux-system/g, "name: fleet") // the GitRepository newFleet made
        .replace(/namespace: podinfo\b/g, `namespace: ${appNs}`)
        .replace(/^ {2}name: podinfo\n {2}labels:/m, `  name: ${appNs}\n  labels:`), // infrastructure/namespaces.yaml
    );
    assert.ok(files["clusters/local/apps.yaml"] && files["apps/overlays/local/kustomization.yaml"], Object.keys(files).join(", "));
    assert.match(files["infrastructure/namespaces.yaml"]!, new RegExp(`name: ${appNs}`));
    const rev = await fleet.commit(files, "fleet from examples/fleet");
    // What a Flux bootstrap makes: one Kustomization syncing the cluster's directory.
    await createKustomization(env, ns, "flux-system", { path: "./clusters/local", interval: "1h" });

    const sync = await waitKs(env, ns, "flux-system", "True");
    assert.deepEqual(sync.status!.inventory!.entries.map((e) => e.id), [`${ns}_apps_kustomize.toolkit.fluxcd.io_Kustomization`, `${ns}_infrastructure_kustomize.toolkit.fluxcd.io_Kustomization`]);
    const infra = await waitKs(env, ns, "infrastructure", "True", (k) => k.status?.lastAppliedRevision === rev);
    const apps = await waitKs(env, ns, "apps", "True", (k) => k.status?.lastAppliedRevision === rev, 150_000);
    assert.equal(cond(apps, "Healthy")?.status, "True", "apps has wait: true");
    assert.ok(Date.parse(cond(apps, "Ready")!.lastTransitionTime) >= Date.parse(cond(infra, "Ready")!.lastTransitionTime), "apps after infrastructure (dependsOn)");

    // kustomize build of the same commit, per Kustomization path, as the pinned kustomize renders it.
    const checkout = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-fleet-checkout-"));
    t.after(() => fs.rmSync(checkout, { recursive: true, force: true }));
    execFileSync("git", ["clone", "-q", fleet.repo.bare, checkout], { env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" } });
    assert.equal(execFileSync("git", ["rev-parse", "HEAD"], { cwd: checkout, encoding: "utf8" }).trim(), rev.replace("main@sha1:", ""));
    const kustomize = await toolPath("kustomize");
    const kubectl = await toolPath("kubectl");
    const rendered: Record<string, Obj[]> = {};
    for (const ks of [infra, apps]) {
      const { stdout } = await run(kustomize, ["build", path.join(checkout, ks.spec.path!)], { maxBuffer: 16 << 20 });
      rendered[ks.metadata.name] = parseAllDocuments(stdout).map((d) => d.toJS() as Obj).filter((o) => o);
    }
    const appObjs = rendered.apps!;
    const generated = appObjs.find((o) => o.kind === "ConfigMap")!;
    assert.match(generated.metadata.name, /^podinfo-config-[a-z0-9]{10}$/, "configMapGenerator with a hash suffix");
    assert.deepEqual(appObjs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`).sort(), [`ConfigMap/${appNs}/${generated.metadata.name}`, `Deployment/${appNs}/podinfo`, `Service/${appNs}/podinfo`]);

    // The same build into the second namespace set with kubectl's server-side apply.
    const map = (n: string | undefined) => (n === ns ? ns2 : n === appNs ? appNs2 : n);
    const toSecondSet = (o: Obj): Obj => {
      const copy = structuredClone(o);
      if (copy.kind === "Namespace") copy.metadata.name = map(copy.metadata.name)!;
      if (copy.metadata.namespace) copy.metadata.namespace = map(copy.metadata.namespace);
      return copy;
    };
    for (const name of ["infrastructure", "apps"]) {
      const input = rendered[name]!.map((o) => JSON.stringify(toSecondSet(o))).join("\n");
      await kubectlApply(kubectl, env.kubeconfigPath, input);
    }

    // Per object: the controller applied what kustomize rendered, and what kubectl applied from it.
    const compared: string[] = [];
    for (const ks of [infra, apps]) {
      const name = ks.metadata.name;
      const objs = rendered[name]!;
      assert.deepEqual(
        ks.status!.inventory!.entries.map((e) => e.id).sort(),
        objs.map((o) => `${o.metadata.namespace ?? ""}_${o.metadata.name}_${o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : ""}_${o.kind}`).sort(),
        `${name}: inventory is the kustomize build`,
      );
      for (const want of objs) {
        const ref = refs[want.kind]!;
        const mine = await env.admin.get<Obj>(ref, ref.namespaced ? want.metadata.namespace : undefined, want.metadata.name);
        const second = toSecondSet(want);
        const theirs = await env.admin.get<Obj>(ref, ref.namespaced ? second.metadata.namespace : undefined, second.metadata.name);
        const subject = `${want.kind}/${want.metadata.name}`;
        assert.deepEqual(subsetDiff({ spec: want.spec, data: want.data, labels: want.metadata.labels }, { spec: mine.spec, data: mine.data, labels: mine.metadata.labels }), [], `${subject}: the controller applied kustomize's output`);
        assert.deepEqual(comparable(mine), comparable(theirs), `${subject}: same fields as kubectl apply --server-side`);
        assert.equal(mine.metadata.labels?.["kustomize.toolkit.fluxcd.io/name"], name, `${subject} owner label`);
        assert.equal(mine.metadata.labels?.["kustomize.toolkit.fluxcd.io/namespace"], ns, `${subject} owner namespace label`);
        assert.equal(theirs.metadata.labels?.["kustomize.toolkit.fluxcd.io/name"], undefined);
        compared.push(subject);
      }
    }
    assert.equal(compared.length, 5, compared.join(", "));

    // The overlay's features took effect (and are what both applies agree on).
    type Dep = Obj & { spec: { replicas: number; template: { spec: { containers: { image: string; env: { valueFrom: { configMapKeyRef: { name: string } } }[] }[] } } } };
    const dep = await env.admin.get<Dep>(Deployments, appNs, "podinfo");
    assert.equal(dep.spec.replicas, 2, "replicas patch");
    assert.equal(dep.spec.template.spec.containers[0]!.image, "ghcr.io/mooring/demo-app:1.0.0", "images newTag");
    assert.equal(dep.spec.template.spec.containers[0]!.env[0]!.valueFrom.configMapKeyRef.name, generated.metadata.name, "reference rewritten to the hashed name");
    assert.equal(dep.metadata.labels?.["app.kubernetes.io/name"], "podinfo", "base labels");
    const k = await env.admin.get<Kustomization>(Kustomizations, ns, "apps");
    assert.deepEqual(k.spec.dependsOn, [{ name: "infrastructure" }]);
    t.diagnostic(`compared ${compared.join(", ")}`);
  });
});

/** kubectl apply --server-side -f - with the given JSON stream. */
function kubectlApply(kubectl: string, kubeconfig: string, input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, ["apply", "--server-side", "-f", "-"], { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`kubectl apply --server-side exited ${code}: ${out}`));
    });
    child.stdin.end(input);
  });
}
