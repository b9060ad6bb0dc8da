// `npm run bench -- bucket [--objects 1000] [--runs 5] [--dir DIR] [--out bench/results]`: reconcile time of a
// Bucket with N objects in a real S3-compatible server (SeaweedFS), unchanged (list only) and changed (list,
// download every object, archive). The source-controller runs in-process with the admin identity against a
// control plane: the one at --dir when given (a running `mooring local up`), else its own (0 nodes), torn down
// at the end. Samples are the reconciler's own duration (its "ms" log field) and the time from the
// reconcile request until the status shows it handled.
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { KubeConfig } from "@kubernetes/client-node";
import { up, down, status as cpStatus } from "../local/controlplane";
import { startS3Server, type S3Server } from "../local/seaweedfs";
import { KubeClient, type ResourceRef } from "../controllers/runtime/kube";
import { newLogger } from "../controllers/runtime/log";
import { startControllers } from "../controllers/main";
import { crds, BucketKind, type Bucket } from "../controllers/api";
import { pool } from "./cluster";
import { median } from "./stats";

const Buckets = BucketKind.resource;
const Namespaces: ResourceRef = { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false };
const Secrets: ResourceRef = { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true };
const CRDs: ResourceRef = { kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", namespaced: false };

interface BucketArgs {
  objects: number;
  runs: number;
  dir?: string;
  out: string;
}

function parse(argv: string[]): BucketArgs {
  const a: BucketArgs = { objects: 1000, runs: 5, out: path.join("bench", "results") };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    if (flag === "--objects") a.objects = Number(value());
    else if (flag === "--runs") a.runs = Number(value());
    else if (flag === "--dir") a.dir = value();
    else if (flag === "--out") a.out = value();
    else throw new Error(`unknown flag ${flag} (--objects N --runs N --dir DIR --out DIR)`);
  }
  if (!Number.isInteger(a.objects) || a.objects < 1 || a.objects > 100_000) throw new Error("--objects must be a whole number within 1..100000");
  if (!Number.isInteger(a.runs) || a.runs < 1) throw new Error("--runs must be a whole number of at least 1");
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const object = (i: number) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\ndata:\n  index: "${i}"\n  filler: "${"x".repeat(200)}"\n`;

interface Sample {
  reconcileMs: number;
  requestToStatusMs: number;
  stored: boolean;
}

export async function bucket(argv: string[]): Promise<number> {
  const a = parse(argv);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-bench-bucket-"));
  const ownCluster = !a.dir;
  const dir = a.dir ?? path.join(work, "cp");
  let s3: S3Server | undefined;
  const stop = new AbortController();
  let controllers: { done: Promise<void> } | undefined;
  try {
    let kubeconfigPath: string;
    if (ownCluster) {
      process.stderr.write(`control plane in ${dir} ...\n`);
      kubeconfigPath = (await up({ dir, nodes: 0, realNode: false, log: (l) => process.stderr.write(`  ${l}\n`) })).kubeconfigPath;
    } else {
      const st = await cpStatus({ dir });
      if (!st.exists || !st.kubeconfigPath) throw new Error(`--dir ${dir}: no running cluster there (run \`mooring local up --dir ${dir}\`)`);
      kubeconfigPath = st.kubeconfigPath;
    }
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const admin = new KubeClient(kc);
    for (const crd of crds()) await admin.patch(CRDs, undefined, crd.metadata.name, crd, { contentType: "application/apply-patch+yaml", query: { fieldManager: "bench", force: true } });
    await until("Bucket CRD", 60_000, async () => {
      const c = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(CRDs, undefined, "buckets.source.toolkit.fluxcd.io");
      return c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True") ? true : undefined;
    });
    const ns = `bench-bucket-${Date.now().toString(36)}`;
    await admin.create(Namespaces, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });

    s3 = await startS3Server({ buckets: ["fleet"] });
    const uploadStart = Date.now();
    const indices = Array.from({ length: a.objects }, (_, i) => i);
    await pool(indices, 16, (i) => s3!.putObject("fleet", `apps/${String(i).padStart(5, "0")}.yaml`, object(i)));
    process.stderr.write(`uploaded ${a.objects} objects in ${Date.now() - uploadStart} ms\n`);
    await admin.create(Secrets, ns, { apiVersion: "v1", kind: "Secret", metadata: { name: "s3", namespace: ns }, stringData: { accesskey: s3.credentials.accessKeyId, secretkey: s3.credentials.secretAccessKey } });

    const logs: { msg?: string; name?: string; ms?: number; stored?: boolean }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split("\n")) if (line.trim()) logs.push(JSON.parse(line) as (typeof logs)[number]);
        cb();
      },
    });
    const running = await startControllers(
      { controllers: ["source"], kubeConfig: kc, storagePath: path.join(work, "storage"), storageAddr: "127.0.0.1:0", metricsAddr: "127.0.0.1:0", healthAddr: "127.0.0.1:0", log: newLogger("info", sink) },
      stop.signal,
    );
    controllers = running;
    const spec: Bucket["spec"] = { bucketName: "fleet", endpoint: s3.endpoint, insecure: true, interval: "1h", timeout: "5m", secretRef: { name: "s3" } };
    const firstStart = Date.now();
    await admin.create(Buckets, ns, { apiVersion: BucketKind.apiVersion, kind: "Bucket", metadata: { name: "fleet", namespace: ns }, spec });
    const ready = (b: Bucket) => b.status?.conditions?.find((c) => c.type === "Ready" && c.status === "True");
    await until("first artifact", 600_000, async () => {
      const b = await admin.get<Bucket>(Buckets, ns, "fleet");
      return ready(b) && b.status?.artifact ? b : undefined;
    });
    const firstMs = Date.now() - firstStart;
    process.stderr.write(`first artifact after ${firstMs} ms\n`);

    const reconcileOnce = async (token: string): Promise<Sample> => {
      const seen = logs.length;
      const started = Date.now();
      await admin.patch(Buckets, ns, "fleet", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": token } } });
      await until(`reconcile ${token}`, 600_000, async () => {
        const b = await admin.get<Bucket>(Buckets, ns, "fleet");
        return b.status?.lastHandledReconcileAt === token && ready(b) ? b : undefined;
      });
      const requestToStatusMs = Date.now() - started;
      const line = await until(`log of ${token}`, 10_000, async () => logs.slice(seen).find((l) => l.msg === "stored new artifact" || l.msg === "artifact up to date"));
      return { reconcileMs: line.ms ?? NaN, requestToStatusMs, stored: line.msg === "stored new artifact" };
    };
    const unchanged: Sample[] = [];
    const changed: Sample[] = [];
    for (let r = 0; r < a.runs; r++) {
      unchanged.push(await reconcileOnce(`unchanged-${r}`));
      await s3.putObject("fleet", "apps/00000.yaml", object(0) + `# change ${r}\n`);
      changed.push(await reconcileOnce(`changed-${r}`));
      process.stderr.write(`run ${r + 1}/${a.runs}: unchanged ${unchanged[r]!.reconcileMs} ms, changed ${changed[r]!.reconcileMs} ms\n`);
    }
    if (unchanged.some((s) => s.stored)) throw new Error("an unchanged reconcile stored a new artifact");
    if (changed.some((s) => !s.stored)) throw new Error("a changed reconcile did not store a new artifact");
    const b = await admin.get<Bucket>(Buckets, ns, "fleet");
    const summary = (xs: Sample[]) => ({
      runs: xs.length,
      reconcileP50Ms: median(xs.map((x) => x.reconcileMs)),
      requestToStatusP50Ms: median(xs.map((x) => x.requestToStatusMs)),
      reconcileMs: xs.map((x) => x.reconcileMs),
      requestToStatusMs: xs.map((x) => x.requestToStatusMs),
    });
    const date = new Date().toISOString().slice(0, 10);
    const result = {
      benchmark: "bucket",
      date,
      machine: { cpus: os.cpus().length, loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10), node: process.version },
      objects: a.objects,
      artifactBytes: b.status?.artifact?.size,
      firstArtifactMs: firstMs,
      unchanged: summary(unchanged),
      changed: summary(changed),
    };
    await fs.mkdir(a.out, { recursive: true });
    const base = path.join(a.out, `${date}-bucket`);
    await fs.writeFile(`${base}.json`, JSON.stringify(result, null, 2) + "\n");
    const md = `# Bucket reconcile time (${date})

Machine: ${result.machine.cpus} CPUs, load average ${result.machine.loadAverage.join(" / ")} at the end (shared, busy), Node ${result.machine.node}.
Run: \`npm run bench -- bucket --objects ${a.objects} --runs ${a.runs}\`. S3 server: SeaweedFS (local/tools.json) on loopback; source-controller in-process.

Bucket of ${a.objects} objects (${object(1).length} bytes each), artifact ${result.artifactBytes} bytes. First artifact: ${firstMs} ms after the create.

| reconcile | runs | p50 reconcile (controller) | p50 request → status | all reconcile samples (ms) |
|---|---|---|---|---|
| unchanged (list, index digest equal: no download) | ${a.runs} | ${result.unchanged.reconcileP50Ms} ms | ${result.unchanged.requestToStatusP50Ms} ms | ${result.unchanged.reconcileMs.join(", ")} |
| changed (one object changed: list, download ${a.objects}, archive) | ${a.runs} | ${result.changed.reconcileP50Ms} ms | ${result.changed.requestToStatusP50Ms} ms | ${result.changed.reconcileMs.join(", ")} |

"reconcile (controller)" is the reconciler's own duration from its log; "request → status" runs from the reconcile.fluxcd.io/requestedAt patch until status.lastHandledReconcileAt shows it with Ready=True (polled every 25 ms).
`;
    await fs.writeFile(`${base}.md`, md);
    process.stdout.write(md);
    await admin.delete(Namespaces, undefined, ns).catch(() => undefined);
    return 0;
  } finally {
    stop.abort();
    await controllers?.done.catch(() => undefined);
    await s3?.stop();
    if (ownCluster) await down({ dir }).catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  }
}
