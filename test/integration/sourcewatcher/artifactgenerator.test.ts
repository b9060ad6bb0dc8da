// ArtifactGenerator end to end on the real cluster: the source-controller serves a monorepo's GitRepository,
// the source-watcher (its own process, ServiceAccount and storage) splits it into ExternalArtifacts, and the
// kustomize-controller applies one of them.
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { unpackArtifact } from "../../../controllers/kustomize/artifact";
import { newLogger } from "../../../controllers/runtime/log";
import type { ResourceRef } from "../../../controllers/runtime/kube";
import { startControllers, type RunningControllers } from "../../../controllers/main";
import { ArtifactGeneratorKind, ExternalArtifactKind, sourceWatcherRbac, type ArtifactGenerator, type ExternalArtifact, type GitRepository, type Kustomization } from "../../../controllers/api";
import { serviceAccountKubeconfig, waitFor } from "../../harness/cluster";
import { adminApply, ConfigMaps, GitRepos, createKustomization, getOrUndefined, newFleet, startKustomizeEnv, waitKs, type KustomizeEnv } from "../kustomize/env";

const Generators = ArtifactGeneratorKind.resource;
const ExternalArtifacts: ResourceRef = ExternalArtifactKind.resource;

let env: KustomizeEnv;
let watcher: RunningControllers;
const stop = new AbortController();
const storagePath = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-sw-storage-"));

before(async () => {
  env = await startKustomizeEnv();
  for (const o of sourceWatcherRbac(env.controllerNamespace)) await adminApply(env.admin, o);
  const sa = await serviceAccountKubeconfig({ namespace: env.controllerNamespace, name: "source-watcher" });
  watcher = await startControllers({ controllers: ["source-watcher"], kubeConfig: sa.kubeConfig, storagePath, storageAddr: "127.0.0.1:0", log: newLogger("error") }, stop.signal);
});

after(async () => {
  stop.abort();
  await watcher?.done;
  await env?.stop();
  fs.rmSync(storagePath, { recursive: true, force: true });
});

const monorepo = {
  "apps/frontend/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frontend\ndata:\n  color: blue\n",
  "apps/backend/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: backend\ndata:\n  tier: api\n",
  "apps/backend/README.md": "not a manifest\n",
};

function generator(ns: string, name: string, spec: ArtifactGenerator["spec"]): ArtifactGenerator {
  return { apiVersion: ArtifactGeneratorKind.apiVersion, kind: "ArtifactGenerator", metadata: { name, namespace: ns }, spec };
}

const readyOf = (o: { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } }) => o.status?.conditions?.find((c) => c.type === "Ready");

async function waitGenerator(ns: string, name: string, want: (g: ArtifactGenerator) => boolean, what: string): Promise<ArtifactGenerator> {
  let last: ArtifactGenerator | undefined;
  try {
    return await waitFor(async () => {
      last = await env.admin.get<ArtifactGenerator>(Generators, ns, name);
      return want(last) && last;
    }, { what, timeoutMs: 60_000, intervalMs: 150 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
}

const ea = (ns: string, name: string) => getOrUndefined<ExternalArtifact>(env.admin, ExternalArtifacts, ns, name);

test("a monorepo split into ExternalArtifacts; a Kustomization applies one and follows each new revision at once", async (t) => {
  const fleet = await newFleet(t, env, monorepo);
  const { ns } = fleet;
  t.after(async () => {
    await env.admin.delete(Generators, ns, "mono").catch(() => undefined);
    await waitFor(async () => !(await getOrUndefined(env.admin, Generators, ns, "mono")), { what: "generator deleted", timeoutMs: 30_000 }).catch(() => undefined);
  });
  await env.admin.create(Generators, ns, generator(ns, "mono", {
    sources: [{ alias: "repo", kind: "GitRepository", name: "fleet" }],
    artifacts: [
      { name: "frontend", originRevision: "@repo", copy: [{ from: "@repo/apps/frontend/**", to: "@artifact/" }] },
      { name: "backend", revision: "@repo", copy: [{ from: "@repo/apps/backend/**", to: "@artifact/", exclude: ["*.md"] }] },
    ],
  }));
  const gitRevision = (await env.admin.get<GitRepository>(GitRepos, ns, "fleet")).status!.artifact!.revision;
  const gen = await waitGenerator(ns, "mono", (g) => readyOf(g)?.status === "True", "ArtifactGenerator Ready");
  assert.match(readyOf(gen)!.message, /generated 2 artifact\(s\)/);
  assert.deepEqual(gen.status!.inventory!.map((r) => r.name).sort(), ["backend", "frontend"]);
  const frontend = (await ea(ns, "frontend"))!;
  assert.equal(readyOf(frontend)?.status, "True");
  assert.match(frontend.status!.artifact!.revision, /^latest@sha256:[a-f0-9]{64}$/);
  assert.equal(frontend.status!.artifact!.revision, `latest@${frontend.status!.artifact!.digest}`);
  assert.equal(frontend.status!.artifact!.metadata?.["org.opencontainers.image.revision"], gitRevision);
  assert.deepEqual(frontend.spec.sourceRef, { apiVersion: "source.extensions.fluxcd.io/v1beta1", kind: "ArtifactGenerator", name: "mono", namespace: ns });
  assert.equal(frontend.metadata.labels?.["source.extensions.fluxcd.io/generator"], gen.metadata.uid);
  const backend = (await ea(ns, "backend"))!;
  assert.equal(backend.status!.artifact!.revision, gitRevision, "revision: '@repo' takes the source's revision");
  // The artifact is served by the source-watcher, with the digest it announces, and holds what the rules chose.
  const tgz = Buffer.from(await (await fetch(backend.status!.artifact!.url)).arrayBuffer());
  assert.equal(`sha256:${createHash("sha256").update(tgz).digest("hex")}`, backend.status!.artifact!.digest);
  assert.deepEqual(unpackArtifact(tgz).filter((e) => e.type === "file").map((e) => e.path), ["configmap.yaml"]);

  await createKustomization(env, ns, "frontend", { interval: "1h", path: "./", targetNamespace: ns, sourceRef: { kind: "ExternalArtifact", name: "frontend" } });
  const ks = await waitKs(env, ns, "frontend", "True");
  assert.equal(ks.status?.lastAppliedRevision, frontend.status!.artifact!.revision);
  assert.equal(ks.status?.lastAppliedOriginRevision, gitRevision);
  assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "frontend")).data.color, "blue");

  // A commit that touches only the frontend: a new frontend revision, applied at once (interval 1h); backend keeps its digest.
  const backendDigest = backend.status!.artifact!.digest;
  const next = await fleet.commit({ "apps/frontend/configmap.yaml": monorepo["apps/frontend/configmap.yaml"].replace("blue", "green") });
  const applied = await waitKs(env, ns, "frontend", "True", (k: Kustomization) => k.status?.lastAppliedOriginRevision === next);
  assert.notEqual(applied.status?.lastAppliedRevision, ks.status?.lastAppliedRevision);
  assert.equal((await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "frontend")).data.color, "green");
  assert.equal((await ea(ns, "backend"))!.status!.artifact!.digest, backendDigest);

  // A bad rule: the generator fails with a clear condition and the ExternalArtifacts stay as they were.
  const before = (await ea(ns, "frontend"))!.status!.artifact!;
  await env.admin.patch(Generators, ns, "mono", { spec: { artifacts: [
    { name: "frontend", originRevision: "@repo", copy: [{ from: "@repo/apps/frontend/*.json", to: "@artifact/" }] },
    { name: "backend", copy: [{ from: "@repo/apps/backend/**", to: "@artifact/" }] },
  ] } });
  const failed = await waitGenerator(ns, "mono", (g) => readyOf(g)?.status === "False" && g.status?.observedGeneration === g.metadata.generation, "Ready=False on a rule matching nothing");
  assert.equal(readyOf(failed)!.reason, "BuildFailed");
  assert.match(readyOf(failed)!.message, /frontend build failed: copy from '@repo\/apps\/frontend\/\*.json' to '@artifact\/': no files match pattern 'apps\/frontend\/\*.json' in source 'repo'/);
  assert.deepEqual((await ea(ns, "frontend"))!.status!.artifact, before);

  // Dropping an artifact from the spec deletes its ExternalArtifact.
  await env.admin.patch(Generators, ns, "mono", { spec: { artifacts: [{ name: "frontend", originRevision: "@repo", copy: [{ from: "@repo/apps/frontend/**", to: "@artifact/" }] }] } });
  await waitGenerator(ns, "mono", (g) => readyOf(g)?.status === "True" && g.status?.observedGeneration === g.metadata.generation, "Ready after dropping backend");
  await waitFor(async () => !(await ea(ns, "backend")), { what: "ExternalArtifact backend garbage collected", timeoutMs: 30_000 });

  // Deleting the generator deletes what it generated.
  await env.admin.delete(Generators, ns, "mono");
  await waitFor(async () => !(await ea(ns, "frontend")), { what: "ExternalArtifact frontend deleted with its generator", timeoutMs: 30_000 });
});

test("bad input: each a clear condition, and no ExternalArtifact is created", async (t) => {
  const fleet = await newFleet(t, env, { ...monorepo, "charts/app.tgz": "not a tarball" });
  const { ns } = fleet;
  const cases: { name: string; spec: ArtifactGenerator["spec"]; reason: string; message: RegExp; stalled?: boolean }[] = [
    { name: "nomatch", spec: { sources: [{ alias: "repo", kind: "GitRepository", name: "fleet" }], artifacts: [{ name: "nomatch-out", copy: [{ from: "@repo/apps/**/*.json", to: "@artifact/" }] }] }, reason: "BuildFailed", message: /no files match pattern 'apps\/\*\*\/\*.json' in source 'repo'/ },
    { name: "missing", spec: { sources: [{ alias: "repo", kind: "GitRepository", name: "nowhere" }], artifacts: [{ name: "missing-out", copy: [{ from: "@repo/apps/**", to: "@artifact/" }] }] }, reason: "SourceFetchFailed", message: new RegExp(`source 'GitRepository/${ns}/nowhere' not found`) },
    { name: "clash", spec: { sources: [{ alias: "repo", kind: "GitRepository", name: "fleet" }, { alias: "repo", kind: "OCIRepository", name: "other" }], artifacts: [{ name: "clash-out", copy: [{ from: "@repo/apps/**", to: "@artifact/" }] }] }, reason: "ValidationFailed", message: /duplicate source alias 'repo' found/, stalled: true },
    { name: "traversal", spec: { sources: [{ alias: "repo", kind: "GitRepository", name: "fleet" }], artifacts: [{ name: "traversal-out", copy: [{ from: "@repo/apps/**", to: "@artifact/../../etc/" }] }] }, reason: "ValidationFailed", message: /copy destination '@artifact\/..\/..\/etc\/' must not contain '..'/, stalled: true },
    { name: "extract", spec: { sources: [{ alias: "repo", kind: "GitRepository", name: "fleet" }], artifacts: [{ name: "extract-out", copy: [{ from: "@repo/apps/frontend/configmap.yaml", to: "@artifact/", strategy: "Extract" }] }] }, reason: "BuildFailed", message: /strategy Extract takes tarball files \(.tar.gz, .tgz\), not 'apps\/frontend\/configmap.yaml'/ },
    { name: "fake-tgz", spec: { sources: [{ alias: "repo", kind: "GitRepository", name: "fleet" }], artifacts: [{ name: "fake-out", copy: [{ from: "@repo/charts/app.tgz", to: "@artifact/", strategy: "Extract" }] }] }, reason: "BuildFailed", message: /'charts\/app.tgz' is not a gzip-compressed tarball/ },
  ];
  for (const c of cases) await env.admin.create(Generators, ns, generator(ns, c.name, c.spec));
  t.after(async () => {
    for (const c of cases) await env.admin.delete(Generators, ns, c.name).catch(() => undefined);
  });
  for (const c of cases) {
    const g = await waitGenerator(ns, c.name, (x) => readyOf(x)?.status === "False", `${c.name}: Ready=False`);
    assert.equal(readyOf(g)!.reason, c.reason, c.name);
    assert.match(readyOf(g)!.message, c.message, c.name);
    assert.equal(g.status?.conditions?.find((x) => x.type === "Stalled")?.status === "True", c.stalled === true, `${c.name}: stalled`);
  }
  const list = await env.admin.list<ExternalArtifact>(ExternalArtifacts, ns);
  assert.deepEqual(list.items.map((i) => i.metadata.name), []);
});
