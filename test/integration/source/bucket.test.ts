// Bucket on the real control plane, source- and kustomize-controller run with their ServiceAccounts, against a
// real S3-compatible server (SeaweedFS, pinned in local/tools.json) with static keys; a loopback forward proxy
// (proxySecretRef) counts the S3 requests, so "unchanged index → no download" is observed on the wire.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { BucketKind, type Bucket } from "../../../controllers/api";
import type { KubeClient } from "../../../controllers/runtime/kube";
import { startS3Server, type S3Server } from "../../../local/seaweedfs";
import { freePort } from "../../../local/ports";
import { toolPath } from "../../../local/tools";
import { newNamespace, waitFor } from "../../harness/cluster";
import { ConfigMaps, configMap, createKustomization, getOrUndefined, Secrets, startKustomizeEnv, waitKs, type KustomizeEnv } from "../kustomize/env";

const run = promisify(execFile);
const Buckets = BucketKind.resource;
const md5 = (s: string) => createHash("md5").update(s).digest("hex");

const cond = (o: Bucket, type: string) => o.status?.conditions?.find((c) => c.type === type);

async function waitBucket(admin: KubeClient, ns: string, name: string, status: "True" | "False", extra: (o: Bucket) => boolean = () => true, timeoutMs = 60_000): Promise<Bucket> {
  return waitFor(async () => {
    const o = await admin.get<Bucket>(Buckets, ns, name);
    const ready = cond(o, "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
  }, { what: `Bucket ${ns}/${name} Ready=${status}`, timeoutMs, intervalMs: 200 });
}

function untar(bytes: Buffer, dir: string): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync("tar", ["-xzf", "-", "-C", dir], { input: bytes });
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else out[p] = fs.readFileSync(path.join(dir, p), "utf8");
    }
  };
  walk("");
  return out;
}

/** A plain HTTP forward proxy on loopback that records the path of every request it forwards. */
async function startProxy(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const target = new URL(req.url ?? "/");
    requests.push(`${req.method} ${target.pathname}${target.search}`);
    const up = http.request({ method: req.method, hostname: target.hostname, port: target.port, path: target.pathname + target.search, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) };
}

describe("Bucket (source.toolkit.fluxcd.io/v1) against SeaweedFS", () => {
  let env: KustomizeEnv;
  let s3: S3Server;
  let scratch: string;
  let flux: string;
  const kubeEnv = () => ({ ...process.env, KUBECONFIG: env.kubeconfigPath });

  before(async () => {
    s3 = await startS3Server();
    env = await startKustomizeEnv();
    flux = await toolPath("flux");
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-bucket-"));
  });
  after(async () => {
    await env?.stop();
    await s3?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  async function keys(ns: string, name = "s3-keys", o: { accesskey?: string; secretkey?: string } = {}): Promise<void> {
    await env.admin.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: { accesskey: o.accesskey ?? s3.credentials.accessKeyId, secretkey: o.secretkey ?? s3.credentials.secretAccessKey } });
  }
  const bucket = (ns: string, name: string, spec: Partial<Bucket["spec"]>): Bucket => ({
    apiVersion: BucketKind.apiVersion,
    kind: "Bucket",
    metadata: { name, namespace: ns },
    spec: { bucketName: ns, endpoint: s3.endpoint, insecure: true, interval: "1h", secretRef: { name: "s3-keys" }, ...spec },
  });

  test("revision is the digest of the key/ETag index; ignore rules; artifact served; unchanged → nothing downloaded; changed → new artifact", async (t) => {
    const ns = await newNamespace(t);
    await keys(ns);
    await s3.createBucket(ns);
    const files: Record<string, string> = {
      "fleet/apps/a.yaml": "kind: ConfigMap\nmetadata:\n  name: a\n",
      "fleet/apps/b.yaml": "kind: ConfigMap\nmetadata:\n  name: b\n",
      "fleet/docs/readme.md": "ignored by .sourceignore\n",
      "fleet/tmp/scratch.txt": "ignored by spec.ignore\n",
      "other/outside-prefix.yaml": "not under the prefix\n",
    };
    for (const [k, v] of Object.entries(files)) await s3.putObject(ns, k, v);
    await s3.putObject(ns, ".sourceignore", "*.md\n");
    const proxy = await startProxy();
    t.after(() => proxy.close());
    await env.admin.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", metadata: { name: "proxy", namespace: ns }, stringData: { address: proxy.url } });
    await env.admin.create(Buckets, ns, bucket(ns, "fleet", { prefix: "fleet/", ignore: "tmp/\n", proxySecretRef: { name: "proxy" } }));
    const o = await waitBucket(env.admin, ns, "fleet", "True");
    const art = o.status!.artifact!;
    const indexed = ["fleet/apps/a.yaml", "fleet/apps/b.yaml"];
    const expected = `sha256:${createHash("sha256").update(indexed.map((k) => `${k} ${md5(files[k]!)}\n`).join("")).digest("hex")}`;
    assert.equal(art.revision, expected, "revision: sha256 over '<key> <etag>' lines, as Flux computes it");
    assert.equal(art.path, `bucket/${ns}/fleet/${expected.slice("sha256:".length)}.tar.gz`);
    assert.equal(cond(o, "Ready")!.message, `stored artifact: revision '${expected}'`);
    assert.equal(cond(o, "ArtifactInStorage")!.status, "True");
    assert.equal(o.status!.observedIgnore, "tmp/\n");
    const res = await fetch(art.url);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, art.digest);
    assert.deepEqual(untar(bytes, path.join(scratch, `${ns}-1`)), { "fleet/apps/a.yaml": files["fleet/apps/a.yaml"], "fleet/apps/b.yaml": files["fleet/apps/b.yaml"] });
    await waitFor(async () => {
      const evs = await env.admin.list<{ reason: string; note: string; regarding: { name: string; kind: string } }>({ kind: "Event", group: "events.k8s.io", version: "v1", plural: "events", namespaced: true }, ns);
      return evs.items.some((e) => e.regarding.kind === "Bucket" && e.reason === "NewArtifact" && e.note === `stored artifact with 2 fetched files from '${ns}' bucket`);
    }, { what: "NewArtifact event" });
    const objectGets = (reqs: string[]) => reqs.filter((r) => r.startsWith(`GET /${ns}/fleet/`));
    assert.equal(objectGets(proxy.requests).length, 2, `both objects downloaded through the proxy: ${proxy.requests.join(", ")}`);

    // Unchanged bucket: the index is listed again, nothing is downloaded, the artifact stays.
    proxy.requests.length = 0;
    await env.admin.patch(Buckets, ns, "fleet", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "unchanged" } } });
    const same = await waitBucket(env.admin, ns, "fleet", "True", (x) => x.status?.lastHandledReconcileAt === "unchanged");
    assert.equal(same.status!.artifact!.revision, expected);
    assert.equal(same.status!.artifact!.lastUpdateTime, art.lastUpdateTime);
    assert.ok(proxy.requests.some((r) => r.startsWith(`GET /${ns}/?`) && r.includes("list-type=2")), `listed again: ${proxy.requests.join(", ")}`);
    assert.deepEqual(objectGets(proxy.requests), [], "no object downloaded for an unchanged index");

    // A changed object: new revision, new artifact.
    await s3.putObject(ns, "fleet/apps/b.yaml", "kind: ConfigMap\nmetadata:\n  name: b2\n");
    await env.admin.patch(Buckets, ns, "fleet", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "changed" } } });
    const changed = await waitBucket(env.admin, ns, "fleet", "True", (x) => x.status?.lastHandledReconcileAt === "changed");
    assert.notEqual(changed.status!.artifact!.revision, expected);
    const tree = untar(Buffer.from(await (await fetch(changed.status!.artifact!.url)).arrayBuffer()), path.join(scratch, `${ns}-2`));
    assert.equal(tree["fleet/apps/b.yaml"], "kind: ConfigMap\nmetadata:\n  name: b2\n");
  });

  test("a Kustomization from a Bucket applies its objects and follows new revisions; flux get/reconcile source bucket", async (t) => {
    const ns = await newNamespace(t);
    await keys(ns);
    await s3.createBucket(ns);
    await s3.putObject(ns, "apps/one.yaml", configMap("one", { a: "1" }, ns));
    await env.admin.create(Buckets, ns, bucket(ns, "fleet", {}));
    await createKustomization(env, ns, "apps", { path: "./apps", interval: "1h", sourceRef: { kind: "Bucket", name: "fleet" } });
    const ks = await waitKs(env, ns, "apps", "True");
    const b = await env.admin.get<Bucket>(Buckets, ns, "fleet");
    assert.equal(ks.status!.lastAppliedRevision, b.status!.artifact!.revision);
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "one"));

    const got = await run(flux, ["get", "sources", "bucket", "-n", ns], { env: kubeEnv() });
    const row = got.stdout.split("\n").find((l) => l.startsWith("fleet"));
    assert.ok(row, got.stdout + got.stderr);
    assert.match(row, /fleet\s+sha256:[0-9a-f]{8}\s+False\s+True\s+stored artifact: revision 'sha256:[0-9a-f]{8}'/, "flux shortens the revision, also in the message");

    await s3.putObject(ns, "apps/two.yaml", configMap("two", { a: "2" }, ns));
    const reconciled = await run(flux, ["reconcile", "source", "bucket", "fleet", "-n", ns, "--timeout=60s"], { env: kubeEnv() });
    const out = reconciled.stdout + reconciled.stderr;
    assert.match(out, /fetched revision sha256:[0-9a-f]{64}/, out);
    const next = await env.admin.get<Bucket>(Buckets, ns, "fleet");
    assert.notEqual(next.status!.artifact!.revision, b.status!.artifact!.revision);
    // The Kustomization follows the Bucket's new artifact without waiting for its 1h interval.
    await waitKs(env, ns, "apps", "True", (k) => k.status?.lastAppliedRevision === next.status!.artifact!.revision);
    assert.ok(await getOrUndefined(env.admin, ConfigMaps, ns, "two"));
  });

  test("bad input: missing bucket, wrong keys, endpoint down, oversized object — a clear condition and nothing stored", async (t) => {
    const ns = await newNamespace(t);
    const wrongSecret = "wrong-secret-key-value-4711";
    await keys(ns);
    await keys(ns, "wrong-keys", { secretkey: wrongSecret });
    await s3.createBucket(ns);
    await s3.putObject(ns, "ok.yaml", "a: 1\n");
    const down = await freePort();
    await env.admin.create(Buckets, ns, bucket(ns, "missing", { bucketName: `${ns}-nope` }));
    await env.admin.create(Buckets, ns, bucket(ns, "wrong-keys", { secretRef: { name: "wrong-keys" } }));
    await env.admin.create(Buckets, ns, bucket(ns, "down", { endpoint: `127.0.0.1:${down}` }));
    await env.admin.create(Buckets, ns, bucket(ns, "no-secret", { secretRef: { name: "absent" } }));
    await env.admin.create(Buckets, ns, bucket(ns, "bad-endpoint", { endpoint: "http://127.0.0.1:9000" }));

    const missing = await waitBucket(env.admin, ns, "missing", "False");
    assert.equal(cond(missing, "FetchFailed")!.reason, "BucketOperationFailed");
    assert.equal(cond(missing, "Ready")!.message, `bucket '${ns}-nope' not found`);

    const wrong = await waitBucket(env.admin, ns, "wrong-keys", "False");
    const message = cond(wrong, "Ready")!.message!;
    assert.equal(cond(wrong, "FetchFailed")!.reason, "AuthenticationFailed");
    assert.match(message, /access denied \(SignatureDoesNotMatch\); check the access key and secret key in the Secret/);
    assert.ok(!message.includes(wrongSecret) && !message.includes(s3.credentials.secretAccessKey), "no secret in the message");

    const unreachable = await waitBucket(env.admin, ns, "down", "False");
    assert.equal(cond(unreachable, "FetchFailed")!.reason, "BucketOperationFailed");
    assert.match(cond(unreachable, "Ready")!.message!, new RegExp(`request to http://127\\.0\\.0\\.1:${down} failed: .*ECONNREFUSED`));

    const noSecret = await waitBucket(env.admin, ns, "no-secret", "False");
    assert.equal(cond(noSecret, "Ready")!.message, `failed to get secret '${ns}/absent': secret not found`);

    const badEndpoint = await waitBucket(env.admin, ns, "bad-endpoint", "False");
    assert.equal(cond(badEndpoint, "Stalled")?.status, "True");
    assert.match(cond(badEndpoint, "Ready")!.message!, /invalid endpoint 'http:\/\/127\.0\.0\.1:9000': want 'host' or 'host:port' without a scheme/);

    for (const o of [missing, wrong, unreachable, noSecret, badEndpoint]) assert.equal(o.status?.artifact, undefined, `${o.metadata.name}: nothing stored`);

    // An object over the size limit (100 MiB) is refused from the listing: never downloaded, nothing stored.
    await s3.putObject(ns, "big/blob.bin", Buffer.alloc((100 << 20) + 1, 1));
    await env.admin.create(Buckets, ns, bucket(ns, "big", { prefix: "big/" }));
    const big = await waitBucket(env.admin, ns, "big", "False", undefined, 120_000);
    assert.equal(cond(big, "Ready")!.message, `object 'big/blob.bin' in bucket '${ns}' is ${(100 << 20) + 1} bytes, over the limit of ${100 << 20} bytes`);
    assert.equal(big.status?.artifact, undefined);
  });

  test("HTTPS endpoint: certSecretRef's ca.crt is trusted; without it the server certificate is refused", async (t) => {
    const ns = await newNamespace(t);
    const pki = path.join(scratch, `${ns}-pki`);
    fs.mkdirSync(pki);
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: pki, stdio: "pipe" });
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=mooring-test-ca");
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=127.0.0.1");
    fs.writeFileSync(path.join(pki, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
    ssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tls.crt", "-days", "1", "-extfile", "ext.cnf");
    const read = (f: string) => fs.readFileSync(path.join(pki, f), "utf8");
    const secure = await startS3Server({ tls: { cert: read("tls.crt"), key: read("tls.key"), ca: read("ca.crt") }, buckets: ["fleet"] });
    t.after(() => secure.stop());
    await secure.putObject("fleet", "apps/a.yaml", "a: 1\n");
    await keys(ns);
    await env.admin.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", metadata: { name: "ca", namespace: ns }, stringData: { "ca.crt": read("ca.crt") } });
    await env.admin.create(Buckets, ns, bucket(ns, "trusted", { bucketName: "fleet", endpoint: secure.endpoint, insecure: false, certSecretRef: { name: "ca" } }));
    await env.admin.create(Buckets, ns, bucket(ns, "untrusted", { bucketName: "fleet", endpoint: secure.endpoint, insecure: false }));
    const trusted = await waitBucket(env.admin, ns, "trusted", "True");
    assert.match(trusted.status!.artifact!.revision, /^sha256:[0-9a-f]{64}$/);
    const untrusted = await waitBucket(env.admin, ns, "untrusted", "False");
    assert.match(cond(untrusted, "Ready")!.message!, /request to https:\/\/127\.0\.0\.1:\d+ failed: .*(self-signed|unable to verify|certificate)/i);
  });
});
