// HelmRepository (type default) on the real control plane, run with the source-controller's ServiceAccount,
// against chart repositories on loopback (HTTP with basic auth, HTTPS with a client certificate), charts
// packaged and indexed by the pinned helm CLI.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { HelmRepositoryKind, type HelmRepository } from "../../../controllers/api";
import type { KubeClient } from "../../../controllers/runtime/kube";
import { newNamespace, waitFor } from "../../harness/cluster";
import { makeTlsMaterial, publishCharts, startChartRepo, type ChartRepoServer, type TlsMaterial } from "../../fixtures/helmrepo/server";
import { cond, createSecret, fetchArtifact, Secrets, startSourceEnv, type SourceEnv } from "./env";

export const HelmRepos = HelmRepositoryKind.resource;
const creds = { username: "chart-reader", password: "hunter2-chart-pass" };

export function helmRepository(namespace: string, name: string, spec: HelmRepository["spec"]): HelmRepository {
  return { apiVersion: HelmRepositoryKind.apiVersion, kind: "HelmRepository", metadata: { name, namespace }, spec };
}

export async function waitHelmRepo(admin: KubeClient, ns: string, name: string, status: "True" | "False", extra: (o: HelmRepository) => boolean = () => true, timeoutMs = 60_000): Promise<HelmRepository> {
  return waitFor(async () => {
    const o = await admin.get<HelmRepository>(HelmRepos, ns, name);
    const ready = cond(o as never, "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
  }, { what: `HelmRepository ${ns}/${name} Ready=${status}`, timeoutMs, intervalMs: 200 });
}

async function requestReconcile(admin: KubeClient, ns: string, name: string): Promise<string> {
  const token = new Date().toISOString() + Math.random().toString(16).slice(2, 6);
  await admin.patch(HelmRepos, ns, name, { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": token } } });
  return token;
}

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("HelmRepository (source.toolkit.fluxcd.io/v1, type default)", () => {
  let env: SourceEnv;
  let scratch: string;
  let repoDir: string;
  let plain: ChartRepoServer;
  let tls: TlsMaterial;
  let secure: ChartRepoServer;

  before(async () => {
    env = await startSourceEnv();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-helmrepo-"));
    repoDir = path.join(scratch, "repo");
    fs.mkdirSync(repoDir);
    await publishCharts(repoDir, path.join(scratch, "src"), [
      { name: "podinfo", version: "1.0.0" },
      { name: "podinfo", version: "1.10.0" },
      { name: "podinfo", version: "1.2.0" },
    ]);
    plain = await startChartRepo(repoDir, { credentials: creds });
    tls = makeTlsMaterial(path.join(scratch, "tls"));
    secure = await startChartRepo(repoDir, { tls: { ...tls, requireClientCert: true } });
  });
  after(async () => {
    await plain?.close();
    await secure?.close();
    await env?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  test("basic auth: Ready, revision = sha256 of the fetched index.yaml, the artifact is the sorted index, status.url serves it", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "helm-auth", creds);
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "charts", { url: plain.url, interval: "10m", secretRef: { name: "helm-auth" } }));
    const o = await waitHelmRepo(env.admin, ns, "charts", "True");
    const art = o.status!.artifact!;
    const onDisk = fs.readFileSync(path.join(repoDir, "index.yaml"));
    assert.equal(art.revision, sha256(onDisk));
    assert.equal(art.path, `helmrepository/${ns}/charts/index-${art.revision.slice("sha256:".length)}.yaml`);
    assert.equal(cond(o as never, "Ready")!.message, `stored artifact: revision '${art.revision}'`);
    assert.equal(cond(o as never, "ArtifactInStorage")!.status, "True");
    assert.ok(o.metadata.finalizers?.includes("finalizers.fluxcd.io"));
    const served = await fetchArtifact(art.url);
    assert.equal(served.digest, art.digest);
    assert.equal(served.bytes!.length, art.size);
    const index = JSON.parse(served.bytes!.toString()) as { apiVersion: string; entries: Record<string, { version: string; urls: string[] }[]> };
    assert.equal(index.apiVersion, "v1");
    assert.deepEqual(index.entries.podinfo!.map((e) => e.version), ["1.10.0", "1.2.0", "1.0.0"], "newest first");
    assert.ok(o.status!.url!.endsWith(`/helmrepository/${ns}/charts/index.yaml`), o.status!.url);
    assert.equal((await fetchArtifact(o.status!.url!)).digest, art.digest);
    assert.ok(plain.requests.some((r) => r.path === "/index.yaml" && r.authorized && r.withAuth));
    await waitFor(async () => {
      const evs = await env.admin.list<{ reason: string; note: string; regarding: { name: string } }>({ kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true }, ns);
      return evs.items.some((e) => e.reason === "NewArtifact" && e.regarding.name === "charts" && /^stored fetched index of size [\d.]+kB from 'http:\/\/127\.0\.0\.1:\d+\/'$/.test(e.note));
    }, { what: "NewArtifact event" });
  });

  test("an unchanged index keeps the artifact; a new chart version is a new revision", async (t) => {
    const ns = await newNamespace(t);
    const dir = path.join(scratch, `repo-${ns}`);
    fs.mkdirSync(dir);
    await publishCharts(dir, path.join(scratch, `src-${ns}`), [{ name: "app", version: "0.1.0" }]);
    const server = await startChartRepo(dir);
    t.after(() => server.close());
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "charts", { url: `${server.url}/`, interval: "10m" }));
    const first = (await waitHelmRepo(env.admin, ns, "charts", "True")).status!.artifact!;
    let token = await requestReconcile(env.admin, ns, "charts");
    const same = await waitHelmRepo(env.admin, ns, "charts", "True", (o) => o.status?.lastHandledReconcileAt === token);
    assert.deepEqual(same.status!.artifact, first);
    await publishCharts(dir, path.join(scratch, `src-${ns}`), [{ name: "app", version: "0.2.0" }]);
    token = await requestReconcile(env.admin, ns, "charts");
    const next = await waitHelmRepo(env.admin, ns, "charts", "True", (o) => o.status?.lastHandledReconcileAt === token);
    const art = next.status!.artifact!;
    assert.notEqual(art.revision, first.revision);
    assert.equal(art.revision, sha256(fs.readFileSync(path.join(dir, "index.yaml"))));
    const index = JSON.parse((await fetchArtifact(art.url)).bytes!.toString()) as { entries: Record<string, { version: string }[]> };
    assert.deepEqual(index.entries.app!.map((e) => e.version), ["0.2.0", "0.1.0"]);
    assert.equal(cond(next as never, "ArtifactOutdated"), undefined);
  });

  test("HTTPS with a client certificate and CA from certSecretRef; without them a clear TLS failure", async (t) => {
    const ns = await newNamespace(t);
    await env.admin.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", metadata: { name: "tls", namespace: ns }, type: "kubernetes.io/tls", stringData: { "ca.crt": fs.readFileSync(tls.ca, "utf8"), "tls.crt": fs.readFileSync(tls.clientCert, "utf8"), "tls.key": fs.readFileSync(tls.clientKey, "utf8") } });
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "secure", { url: secure.url, interval: "10m", certSecretRef: { name: "tls" } }));
    const ok = await waitHelmRepo(env.admin, ns, "secure", "True");
    assert.equal(ok.status!.artifact!.revision, sha256(fs.readFileSync(path.join(repoDir, "index.yaml"))));

    await createSecret(env.admin, ns, "ca-only", { "ca.crt": fs.readFileSync(tls.ca, "utf8") });
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "no-client-cert", { url: secure.url, interval: "10m", certSecretRef: { name: "ca-only" } }));
    const noCert = await waitHelmRepo(env.admin, ns, "no-client-cert", "False");
    assert.equal(cond(noCert as never, "FetchFailed")!.status, "True");
    assert.match(cond(noCert as never, "Ready")!.message, /^failed to fetch Helm repository index: failed to fetch https:\/\/127\.0\.0\.1:\d+\/index\.yaml : /);

    await env.admin.create(HelmRepos, ns, helmRepository(ns, "untrusted", { url: secure.url, interval: "10m" }));
    const untrusted = await waitHelmRepo(env.admin, ns, "untrusted", "False");
    assert.match(cond(untrusted as never, "Ready")!.message, /certificate/i);

    await createSecret(env.admin, ns, "half", { "tls.crt": fs.readFileSync(tls.clientCert, "utf8") });
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "half", { url: secure.url, interval: "10m", certSecretRef: { name: "half" } }));
    const half = await waitHelmRepo(env.admin, ns, "half", "False");
    assert.equal(cond(half as never, "Ready")!.reason, "AuthenticationFailed");
    assert.match(cond(half as never, "Ready")!.message, /'tls\.key' is missing/);
  });

  test("wrong credentials and an unreachable repository: Ready=False with a clear message, previous artifact kept, no secret shown", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "helm-auth", creds);
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "charts", { url: plain.url, interval: "10m", secretRef: { name: "helm-auth" } }));
    const good = (await waitHelmRepo(env.admin, ns, "charts", "True")).status!.artifact!;

    await env.admin.patch(Secrets, ns, "helm-auth", { stringData: { password: "wrong-password-123" } });
    await requestReconcile(env.admin, ns, "charts");
    const denied = await waitHelmRepo(env.admin, ns, "charts", "False");
    const ready = cond(denied as never, "Ready")!;
    assert.equal(ready.reason, "Failed");
    assert.match(ready.message, /failed to fetch http:\/\/127\.0\.0\.1:\d+\/index\.yaml : 401 Unauthorized \(check the credentials in secret '.*\/helm-auth'\)/);
    assert.equal(cond(denied as never, "FetchFailed")!.status, "True");
    assert.deepEqual(denied.status!.artifact, good, "the last artifact stays");
    assert.equal((await fetchArtifact(good.url)).digest, good.digest);

    await createSecret(env.admin, ns, "no-password", { username: "chart-reader" });
    await env.admin.patch(HelmRepos, ns, "charts", { spec: { secretRef: { name: "no-password" } } });
    const invalid = await waitHelmRepo(env.admin, ns, "charts", "False");
    assert.equal(cond(invalid as never, "Ready")!.reason, "AuthenticationFailed");
    assert.match(cond(invalid as never, "Ready")!.message, /'password' is missing for basic authentication/);

    const dead = await startChartRepo(repoDir);
    await dead.close();
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "gone", { url: dead.url, interval: "10m", timeout: "5s" }));
    const gone = await waitHelmRepo(env.admin, ns, "gone", "False");
    assert.match(cond(gone as never, "Ready")!.message, /failed to fetch Helm repository index: failed to fetch http:\/\/127\.0\.0\.1:\d+\/index\.yaml : .*ECONNREFUSED/);

    const everything = JSON.stringify([denied, invalid, gone]) + JSON.stringify(env.logs);
    assert.ok(!everything.includes("wrong-password-123") && !everything.includes(creds.password), "no password in status or logs");
  });

  test("an oci:// URL with type default is Stalled (URLInvalid); type oci is a static object without finalizer or status", async (t) => {
    const ns = await newNamespace(t);
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "wrong-type", { url: "oci://127.0.0.1:5000/charts", interval: "10m" }));
    const wrong = await waitHelmRepo(env.admin, ns, "wrong-type", "False");
    assert.equal(cond(wrong as never, "Ready")!.reason, "URLInvalid");
    assert.equal(cond(wrong as never, "Stalled")!.status, "True");
    assert.match(cond(wrong as never, "Ready")!.message, /'oci' URL scheme cannot be used with 'default' HelmRepository type/);

    await env.admin.create(HelmRepos, ns, helmRepository(ns, "oci", { url: "oci://127.0.0.1:5000/charts", type: "oci" }));
    // Reconciled after wrong-type (same queue): give it the time the other one took, then check it was left alone.
    await new Promise((r) => setTimeout(r, 2_000));
    const oci = await env.admin.get<HelmRepository>(HelmRepos, ns, "oci");
    assert.equal(oci.status?.conditions, undefined);
    assert.ok(!oci.metadata.finalizers?.length);
  });

  test("suspend stops reconciling; deleting the object removes its artifacts", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "helm-auth", creds);
    await env.admin.create(HelmRepos, ns, helmRepository(ns, "charts", { url: plain.url, interval: "10m", secretRef: { name: "helm-auth" } }));
    const o = await waitHelmRepo(env.admin, ns, "charts", "True");
    const dir = path.join(env.storagePath, path.dirname(o.status!.artifact!.path));
    assert.ok(fs.existsSync(dir));
    await env.admin.patch(HelmRepos, ns, "charts", { spec: { suspend: true } });
    const token = await requestReconcile(env.admin, ns, "charts");
    await new Promise((r) => setTimeout(r, 2_000));
    assert.notEqual((await env.admin.get<HelmRepository>(HelmRepos, ns, "charts")).status?.lastHandledReconcileAt, token);
    await env.admin.patch(HelmRepos, ns, "charts", { spec: { suspend: false } });
    await waitHelmRepo(env.admin, ns, "charts", "True", (x) => x.status?.lastHandledReconcileAt === token);
    await env.admin.delete(HelmRepos, ns, "charts");
    await waitFor(() => !fs.existsSync(dir), { what: "artifact directory removed" });
  });
});
