// OCIRepository on the real control plane, run with the source-controller's ServiceAccount, against a real
// registry (Debian's docker-registry) holding artifacts pushed with the pinned `flux push artifact`; what the
// controller stores is compared with what `flux pull artifact` extracts.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OCIRepositoryKind, type OCIRepository } from "../../../controllers/api";
import type { KubeClient } from "../../../controllers/runtime/kube";
import { toolPath } from "../../../local/tools";
import { newNamespace, waitFor } from "../../harness/cluster";
import { startRegistry, type Registry } from "../../fixtures/registry/registry";
import { cond, fetchArtifact, Secrets, startSourceEnv, type SourceEnv } from "./env";

const OCIRepos = OCIRepositoryKind.resource;
const creds = { username: "puller", password: "registry-pass-8812" };

async function waitOci(admin: KubeClient, ns: string, name: string, status: "True" | "False", extra: (o: OCIRepository) => boolean = () => true, timeoutMs = 60_000): Promise<OCIRepository> {
  return waitFor(async () => {
    const o = await admin.get<OCIRepository>(OCIRepos, ns, name);
    const ready = cond(o as never, "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
  }, { what: `OCIRepository ${ns}/${name} Ready=${status}`, timeoutMs, intervalMs: 200 });
}

const ociRepository = (ns: string, name: string, spec: Partial<OCIRepository["spec"]> & { url: string }): OCIRepository => ({ apiVersion: OCIRepositoryKind.apiVersion, kind: "OCIRepository", metadata: { name, namespace: ns }, spec: { interval: "10m", insecure: true, ...spec } });
const c = (o: OCIRepository, type: string) => cond(o as never, type);

function untar(bytes: Buffer, dir: string): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "..", `${path.basename(dir)}.tgz`), bytes);
  execFileSync("tar", ["-xzf", path.join(dir, "..", `${path.basename(dir)}.tgz`), "-C", dir]);
  return readTree(dir);
}

function readTree(dir: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, readTree(dir, p));
    else out[p] = fs.readFileSync(path.join(dir, p), "utf8");
  }
  return out;
}

describe("OCIRepository (source.toolkit.fluxcd.io/v1)", () => {
  let env: SourceEnv;
  let scratch: string;
  let flux: string;
  let open: Registry;
  let locked: Registry;

  function push(registry: Registry, ref: string, files: Record<string, string>, o: { creds?: boolean; revision?: string } = {}): { digest: string } {
    const dir = fs.mkdtempSync(path.join(scratch, "push-"));
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content);
    }
    const args = ["push", "artifact", `oci://${registry.host}/${ref}`, "--path", dir, "--source", "https://git.example.com/fleet", "--revision", o.revision ?? "main@sha1:0123456789abcdef0123456789abcdef01234567", "--insecure-registry", "--output", "json"];
    if (o.creds) args.push("--creds", `${creds.username}:${creds.password}`);
    const out = JSON.parse(execFileSync(flux, args, { encoding: "utf8" })) as { digest: string };
    return out;
  }

  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);

  before(async () => {
    process.on("warning", onWarning);
    env = await startSourceEnv();
    flux = await toolPath("flux");
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-oci-"));
    open = await startRegistry(path.join(scratch, "open"));
    locked = await startRegistry(path.join(scratch, "locked"), { credentials: creds });
  });
  after(async () => {
    process.off("warning", onWarning);
    await open?.close();
    await locked?.close();
    await env?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  test("an artifact pushed with flux push: revision '<tag>@sha256:<manifest digest>', content equal to what flux pull extracts", async (t) => {
    const ns = await newNamespace(t);
    const pushed = push(open, `${ns}/manifests:v1.0.0`, { "apps/app.yaml": "kind: ConfigMap\n", "apps/.sourceignore": "ignored.txt\n", "apps/ignored.txt": "x" }, { revision: "v1.0.0@sha1:0123456789abcdef0123456789abcdef01234567" });
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "manifests", { url: `oci://${open.host}/${ns}/manifests`, ref: { tag: "v1.0.0" } }));
    const o = await waitOci(env.admin, ns, "manifests", "True");
    const art = o.status!.artifact!;
    assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(art.revision, `v1.0.0@${pushed.digest}`);
    assert.equal(art.path, `ocirepository/${ns}/manifests/${pushed.digest.slice("sha256:".length)}.tar.gz`);
    assert.equal(c(o, "Ready")!.message, `stored artifact for digest '${art.revision}'`);
    assert.equal(art.metadata?.["org.opencontainers.image.source"], "https://git.example.com/fleet");
    assert.equal(art.metadata?.["org.opencontainers.image.revision"], "v1.0.0@sha1:0123456789abcdef0123456789abcdef01234567");
    const served = await fetchArtifact(art.url);
    assert.equal(served.digest, art.digest);
    const ours = untar(served.bytes!, path.join(scratch, `${ns}-ours`));
    const pulled = path.join(scratch, `${ns}-pulled`);
    fs.mkdirSync(pulled);
    execFileSync(flux, ["pull", "artifact", `oci://${open.host}/${ns}/manifests:v1.0.0`, "--output", pulled, "--insecure-registry"], { stdio: "pipe" });
    const theirs = readTree(pulled);
    delete theirs["apps/ignored.txt"];
    assert.deepEqual(ours, theirs, "same files as flux pull, less what .sourceignore excludes");
    assert.ok(!("apps/ignored.txt" in ours));
    await waitFor(async () => {
      const evs = await env.admin.list<{ reason: string; note: string; regarding: { name: string } }>({ kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true }, ns);
      return evs.items.some((e) => e.reason === "NewArtifact" && e.note === `stored artifact with revision '${art.revision}' from 'oci://${open.host}/${ns}/manifests', origin source 'https://git.example.com/fleet', origin revision 'v1.0.0@sha1:0123456789abcdef0123456789abcdef01234567'`);
    }, { what: "NewArtifact event" });

    // A new push to the same tag is a new revision.
    const again = push(open, `${ns}/manifests:v1.0.0`, { "apps/app.yaml": "kind: Secret\n" });
    await env.admin.patch(OCIRepos, ns, "manifests", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "again" } } });
    const next = await waitOci(env.admin, ns, "manifests", "True", (x) => x.status?.artifact?.revision === `v1.0.0@${again.digest}`);
    assert.equal(untar((await fetchArtifact(next.status!.artifact!.url)).bytes!, path.join(scratch, `${ns}-next`))["apps/app.yaml"], "kind: Secret\n");
  });

  test("semver with semverFilter, digest and latest references", async (t) => {
    const ns = await newNamespace(t);
    const url = `oci://${open.host}/${ns}/app`;
    push(open, `${ns}/app:1.0.0`, { "v.txt": "1.0.0" });
    const v110 = push(open, `${ns}/app:1.1.0`, { "v.txt": "1.1.0" });
    push(open, `${ns}/app:2.0.0`, { "v.txt": "2.0.0" });
    const rc = push(open, `${ns}/app:1.2.0-rc.1`, { "v.txt": "1.2.0-rc.1" });
    const latest = push(open, `${ns}/app:latest`, { "v.txt": "latest" });
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "range", { url, ref: { semver: ">=1.0.0 <2.0.0" } }));
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "filtered", { url, ref: { semver: ">=1.0.0-0", semverFilter: ".*-rc\\..*" } }));
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "digest", { url, ref: { digest: v110.digest } }));
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "latest", { url }));
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "none", { url, ref: { semver: ">=3.0.0" } }));
    assert.equal((await waitOci(env.admin, ns, "range", "True")).status!.artifact!.revision, `1.1.0@${v110.digest}`);
    assert.equal((await waitOci(env.admin, ns, "filtered", "True")).status!.artifact!.revision, `1.2.0-rc.1@${rc.digest}`);
    assert.equal((await waitOci(env.admin, ns, "digest", "True")).status!.artifact!.revision, v110.digest);
    assert.equal((await waitOci(env.admin, ns, "latest", "True")).status!.artifact!.revision, `latest@${latest.digest}`);
    const none = await waitOci(env.admin, ns, "none", "False");
    assert.equal(c(none, "Ready")!.reason, "ReadOperationFailed");
    assert.equal(c(none, "Ready")!.message, `failed to determine the artifact tag for '${url}': no match found for semver: >=3.0.0`);
  });

  test("layerSelector: copy stores the layer as pushed; an unknown media type is a clear failure", async (t) => {
    const ns = await newNamespace(t);
    const url = `oci://${open.host}/${ns}/app`;
    const pushed = push(open, `${ns}/app:v1`, { "a.yaml": "a: 1\n" });
    const manifest = (await (await fetch(`http://${open.host}/v2/${ns}/app/manifests/v1`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).json()) as { layers: { mediaType: string; digest: string }[] };
    const layer = manifest.layers[0]!;
    assert.equal(layer.mediaType, "application/vnd.cncf.flux.content.v1.tar+gzip");
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "copy", { url, ref: { tag: "v1" }, layerSelector: { mediaType: layer.mediaType, operation: "copy" } }));
    const copy = await waitOci(env.admin, ns, "copy", "True");
    assert.equal(copy.status!.artifact!.digest, layer.digest, "the layer blob, byte for byte");
    assert.equal(copy.status!.artifact!.revision, `v1@${pushed.digest}`);
    assert.deepEqual(copy.status!.observedLayerSelector, { mediaType: layer.mediaType, operation: "copy" });
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "wrong", { url, ref: { tag: "v1" }, layerSelector: { mediaType: "application/x-nope" } }));
    const wrong = await waitOci(env.admin, ns, "wrong", "False");
    assert.equal(c(wrong, "Ready")!.reason, "OCIArtifactLayerOperationFailed");
    assert.equal(c(wrong, "Ready")!.message, "failed to find layer with media type 'application/x-nope' in artifact");
  });

  test("registry auth from a dockerconfigjson secret; wrong credentials and a missing tag are clear failures, previous artifact kept", async (t) => {
    const ns = await newNamespace(t);
    const url = `oci://${locked.host}/${ns}/app`;
    const pushed = push(locked, `${ns}/app:v1`, { "a.yaml": "a: 1\n" }, { creds: true });
    const dockerconfig = (password: string) => JSON.stringify({ auths: { [locked.host]: { username: creds.username, password } } });
    await env.admin.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", metadata: { name: "regcred", namespace: ns }, type: "kubernetes.io/dockerconfigjson", stringData: { ".dockerconfigjson": dockerconfig(creds.password) } });
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "app", { url, ref: { tag: "v1" }, secretRef: { name: "regcred" } }));
    const good = (await waitOci(env.admin, ns, "app", "True")).status!.artifact!;
    assert.equal(good.revision, `v1@${pushed.digest}`);

    await env.admin.create(OCIRepos, ns, ociRepository(ns, "anonymous", { url, ref: { tag: "v1" } }));
    const anonymous = await waitOci(env.admin, ns, "anonymous", "False");
    assert.match(c(anonymous, "Ready")!.message, /401 Unauthorized \(the registry wants credentials: set \.spec\.secretRef\)/);

    await env.admin.patch(Secrets, ns, "regcred", { stringData: { ".dockerconfigjson": dockerconfig("wrong-registry-pass") } });
    await env.admin.patch(OCIRepos, ns, "app", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "wrong" } } });
    const denied = await waitOci(env.admin, ns, "app", "False");
    assert.equal(c(denied, "Ready")!.reason, "OCIArtifactPullFailed");
    assert.match(c(denied, "Ready")!.message, /^failed to determine artifact digest: HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/.*\/app\/manifests\/v1: 401 Unauthorized \(the registry refused the credentials\)$/);
    assert.deepEqual(denied.status!.artifact, good);

    await env.admin.patch(Secrets, ns, "regcred", { stringData: { ".dockerconfigjson": dockerconfig(creds.password) } });
    await env.admin.patch(OCIRepos, ns, "app", { spec: { ref: { tag: "v9" } } });
    const missing = await waitOci(env.admin, ns, "app", "False");
    assert.match(c(missing, "Ready")!.message, /manifests\/v9: 404 Not Found/);
    assert.deepEqual(missing.status!.artifact, good);
    const everything = JSON.stringify([denied, missing, anonymous]) + JSON.stringify(env.logs);
    assert.ok(!everything.includes("wrong-registry-pass") && !everything.includes(creds.password));
  });

  test("a URL with a tag is Stalled (URLInvalid); deleting the object removes its artifacts", async (t) => {
    const ns = await newNamespace(t);
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "tagged", { url: `oci://${open.host}/${ns}/app:v1` }));
    const tagged = await waitOci(env.admin, ns, "tagged", "False");
    assert.equal(c(tagged, "Ready")!.reason, "URLInvalid");
    assert.equal(c(tagged, "Stalled")!.status, "True");
    push(open, `${ns}/app:latest`, { "a.yaml": "a: 1\n" });
    await env.admin.create(OCIRepos, ns, ociRepository(ns, "app", { url: `oci://${open.host}/${ns}/app` }));
    const ok = await waitOci(env.admin, ns, "app", "True");
    const dir = path.join(env.storagePath, path.dirname(ok.status!.artifact!.path));
    assert.ok(fs.existsSync(dir));
    await env.admin.delete(OCIRepos, ns, "app");
    await waitFor(() => !fs.existsSync(dir), { what: "artifacts removed" });
  });

  test("the controllers' shared stop signal has one listener per controller and raises no leak warning", () => {
    assert.deepEqual(warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message), []);
  });
});
