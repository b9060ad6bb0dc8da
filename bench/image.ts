// `npm run bench -- image --dir <cluster dir> [--samples 10] [--tags 5000] [--out bench/results]`: the image
// automation loop on a running `mooring local up` cluster, with the image controllers as one local process
// (`node dist/controllers/main.js --controllers image-reflector,image-automation`), Debian's docker-registry and
// the local git host.
//  - scan: an ImageRepository of a repository with --tags tags: time from creation to Ready (the scan pages
//    through the registry's tag list and writes the tag store), and the controller process's peak RSS.
//  - loop: a tag is pushed to the registry and the ImageRepository asked to scan (as a registry webhook does);
//    each sample runs from the tag push until the commit with the new tag is on the branch and, on a cluster
//    with a real node, until the pod runs the new tag: source- and kustomize-controller then run in the same
//    local process, the GitRepository polls every second, and the demo app image built offline is on the node
//    under each tag (pull policy Never: nothing is pulled).
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { promises as fs, existsSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { startGitHttpServer } from "../local/githost";
import { status as clusterStatus } from "../local/controlplane";
import { ensureDemoAppImage } from "../local/image";
import { importImage } from "../local/nodeimages";
import { crds, GitRepositoryKind, KustomizationKind, ImagePolicyKind, ImageRepositoryKind, ImageUpdateAutomationKind, type ImageRepository } from "../controllers/api";
import { KubeClient, isNotFound, loadKubeConfig, type ResourceRef } from "../controllers/runtime/kube";
import { readPeakRssMiB } from "./procstat";
import { summarize, type LatencySummary } from "./stats";

interface ImageArgs {
  dir: string;
  samples: number;
  tags: number;
  out: string;
}

function parse(argv: string[]): ImageArgs {
  const a: Partial<ImageArgs> = { samples: 10, tags: 5000, out: path.join("bench", "results") };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    if (flag === "--dir") a.dir = value();
    else if (flag === "--samples") a.samples = Number(value());
    else if (flag === "--tags") a.tags = Number(value());
    else if (flag === "--out") a.out = value();
    else throw new Error(`unknown flag ${flag} (--dir DIR --samples N --tags N --out DIR)`);
  }
  if (!a.dir) throw new Error("--dir: the directory of a running `mooring local up` cluster");
  for (const k of ["samples", "tags"] as const) if (!Number.isInteger(a[k]) || a[k]! < 1) throw new Error(`--${k} must be a whole number of at least 1`);
  return a as ImageArgs;
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Debian's docker-registry on loopback with filesystem storage. */
async function startRegistry(dir: string): Promise<{ host: string; child: ChildProcess }> {
  const binary = "/usr/bin/docker-registry";
  if (!existsSync(binary)) throw new Error(`${binary} is missing: apt-get install docker-registry`);
  const port = await freePort();
  await fs.mkdir(path.join(dir, "data"), { recursive: true });
  const config = ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:", `    rootdirectory: ${path.join(dir, "data")}`, "http:", `  addr: 127.0.0.1:${port}`].join("\n") + "\n";
  await fs.writeFile(path.join(dir, "config.yml"), config);
  const child = spawn(binary, ["serve", path.join(dir, "config.yml")], { stdio: "ignore" });
  const host = `127.0.0.1:${port}`;
  await until("docker-registry", 15_000, async () => ((await fetch(`http://${host}/v2/`)).ok ? true : undefined), 100);
  return { host, child };
}

/** One tiny image; tagging is a manifest PUT. */
async function imagePusher(host: string, repo: string): Promise<(tag: string) => Promise<void>> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const layer = gzipSync(Buffer.alloc(1024));
  for (const blob of [config, layer]) {
    const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    const location = new URL(start.headers.get("location")!, `http://${host}`);
    location.searchParams.set("digest", sha(blob));
    const put = await fetch(location, { method: "PUT", body: blob, headers: { "content-type": "application/octet-stream" } });
    if (put.status !== 201) throw new Error(`blob upload: ${put.status}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(layer), size: layer.length }],
  });
  return async (tag) => {
    const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: "PUT", body: manifest, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
    if (res.status !== 201) throw new Error(`manifest PUT ${tag}: ${res.status}`);
  };
}

export interface ImageBenchResult {
  date: string;
  machine: { cpus: number; memGiB: number };
  scan: { tags: number; seconds: number; controllerPeakRssMiB?: number; controllerRssBeforeMiB?: number };
  loop: { what: string; latency: LatencySummary };
  rollout?: { what: string; latency: LatencySummary };
}

export async function image(argv: string[]): Promise<number> {
  const a = parse(argv);
  const kubeconfig = path.resolve(a.dir, "kubeconfig");
  const admin = new KubeClient(await loadKubeConfig(kubeconfig));
  const crdRef: ResourceRef = { kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", namespaced: false };
  for (const crd of crds()) await admin.patch(crdRef, undefined, crd.metadata.name, crd, { contentType: "application/apply-patch+yaml", query: { fieldManager: "mooring-bench", force: true } });
  const ns = `bench-image-${Date.now().toString(36)}`;
  const nsRef: ResourceRef = { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false };
  await admin.create(nsRef, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-bench-image-"));
  const registry = await startRegistry(path.join(scratch, "registry"));
  const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=bench", "-c", "user.email=bench@x.invalid", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  const root = path.join(scratch, "git");
  await fs.mkdir(path.join(root, "work"), { recursive: true });
  git(root, "init", "-q", "--bare", "-b", "main", "fleet.git");
  git(path.join(root, "fleet.git"), "config", "http.receivepack", "true");
  const gitServer = await startGitHttpServer({ root, host: "127.0.0.1" });
  const apply = (ref: ResourceRef, obj: { metadata: { name: string } }) => admin.patch(ref, ns, obj.metadata.name, obj, { contentType: "application/apply-patch+yaml", query: { fieldManager: "mooring-bench", force: true } });
  let controllers: ChildProcess | undefined;
  try {
    // The repository with --tags tags, and the app's tags for the loop.
    const pushBig = await imagePusher(registry.host, "bench/many");
    for (let i = 0; i < a.tags; i += 50) await Promise.all(Array.from({ length: Math.min(50, a.tags - i) }, (_, j) => pushBig(`1.0.${i + j}`)));
    const node = (await clusterStatus({ dir: a.dir })).realNode;
    const pods = node?.ready === true;
    if (pods) {
      for (let i = 0; i <= a.samples; i++) await importImage(a.dir, (await ensureDemoAppImage({ ref: `${registry.host}/bench/app:1.0.${i}` })).archive);
    }
    const pushApp = await imagePusher(registry.host, "bench/app");
    await pushApp("1.0.0");
    const work = path.join(root, "work");
    git(work, "clone", "-q", path.join(root, "fleet.git"), ".");
    await fs.mkdir(path.join(work, "apps"));
    await fs.writeFile(
      path.join(work, "apps", "deploy.yaml"),
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: ${ns}\nspec:\n  selector:\n    matchLabels: { app: bench }\n  template:\n    metadata:\n      labels: { app: bench }\n    spec:\n      nodeSelector: { type: real }\n      containers:\n        - name: app\n          image: ${registry.host}/bench/app:1.0.0 # {"$imagepolicy": "${ns}:app"}\n          imagePullPolicy: Never\n`,
    );
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", "init");
    git(work, "push", "-q", "origin", "main");

    const storage = path.join(scratch, "storage");
    const which = pods ? "source,kustomize,image-reflector,image-automation" : "image-reflector,image-automation";
    controllers = spawn(
      process.execPath,
      [path.join(__dirname, "..", "controllers", "main.js"), `--controllers=${which}`, `--kubeconfig=${kubeconfig}`, `--storage-path=${storage}`, `--storage-addr=127.0.0.1:${await freePort()}`, "--metrics-addr=0", "--health-addr=0", "--log-level=error"],
      { stdio: "ignore" },
    );
    await new Promise((r) => setTimeout(r, 3_000));
    const mib = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);
    const rssBefore = mib(await readPeakRssMiB(controllers.pid!));

    // Scan of the big repository.
    const scanStart = Date.now();
    await apply(ImageRepositoryKind.resource, { apiVersion: ImageRepositoryKind.apiVersion, kind: "ImageRepository", metadata: { name: "many" }, spec: { image: `${registry.host}/bench/many`, interval: "1h", insecure: true } } as never);
    const scanned = await until("the big scan", 300_000, async () => {
      const o = await admin.get<ImageRepository>(ImageRepositoryKind.resource, ns, "many");
      return o.status?.conditions?.find((c) => c.type === "Ready")?.status === "True" ? o : undefined;
    });
    const scanSeconds = (Date.now() - scanStart) / 1000;
    const peak = mib(await readPeakRssMiB(controllers.pid!));
    if (scanned.status?.lastScanResult?.tagCount !== a.tags) throw new Error(`scan found ${scanned.status?.lastScanResult?.tagCount} tags, not ${a.tags}`);

    // The loop.
    await apply(GitRepositoryKind.resource, { apiVersion: GitRepositoryKind.apiVersion, kind: "GitRepository", metadata: { name: "fleet" }, spec: { url: `${gitServer.url}/fleet.git`, interval: pods ? "1s" : "1h", ref: { branch: "main" } } } as never);
    if (pods) {
      await apply(KustomizationKind.resource, { apiVersion: KustomizationKind.apiVersion, kind: "Kustomization", metadata: { name: "apps" }, spec: { interval: "1h", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" } } } as never);
    }
    const Pods: ResourceRef = { kind: "Pod", group: "", version: "v1", plural: "pods", namespaced: true };
    const runningTag = async (): Promise<string | undefined> => {
      const list = await admin.list<{ metadata: { deletionTimestamp?: string }; spec: { containers: { image: string }[] }; status?: { phase?: string; conditions?: { type: string; status: string }[] } }>(Pods, ns, { query: { labelSelector: "app=bench" } });
      const live = list.items.filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
      return live.length === 1 ? live[0]!.spec.containers[0]!.image.split(":").pop() : undefined;
    };
    if (pods) await until("the pod running 1.0.0", 300_000, async () => ((await runningTag()) === "1.0.0" ? true : undefined), 200);
    await apply(ImageRepositoryKind.resource, { apiVersion: ImageRepositoryKind.apiVersion, kind: "ImageRepository", metadata: { name: "app" }, spec: { image: `${registry.host}/bench/app`, interval: "1h", insecure: true } } as never);
    await apply(ImagePolicyKind.resource, { apiVersion: ImagePolicyKind.apiVersion, kind: "ImagePolicy", metadata: { name: "app" }, spec: { imageRepositoryRef: { name: "app" }, policy: { semver: { range: ">=1.0.0" } } } } as never);
    await apply(ImageUpdateAutomationKind.resource, {
      apiVersion: ImageUpdateAutomationKind.apiVersion,
      kind: "ImageUpdateAutomation",
      metadata: { name: "fleet" },
      spec: { sourceRef: { kind: "GitRepository", name: "fleet" }, interval: "1h", git: { commit: { author: { name: "bench", email: "bench@x.invalid" } }, push: { branch: "main" } }, update: { path: "./apps", strategy: "Setters" } },
    } as never);
    const deployed = () => execFileSync("git", ["show", "main:apps/deploy.yaml"], { cwd: path.join(root, "fleet.git"), encoding: "utf8" });
    const seconds: number[] = [];
    const rollout: number[] = [];
    let timedOut = 0;
    let rolloutTimedOut = 0;
    for (let i = 1; i <= a.samples; i++) {
      const tag = `1.0.${i}`;
      const start = Date.now();
      await pushApp(tag);
      await admin.patch(ImageRepositoryKind.resource, ns, "app", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `${start}` } } });
      try {
        await until(`commit with ${tag}`, 120_000, async () => (deployed().includes(`/bench/app:${tag} `) ? true : undefined));
        seconds.push((Date.now() - start) / 1000);
      } catch {
        timedOut++;
        continue;
      }
      if (!pods) continue;
      try {
        await until(`the pod running ${tag}`, 180_000, async () => ((await runningTag()) === tag ? true : undefined), 50);
        rollout.push((Date.now() - start) / 1000);
      } catch {
        rolloutTimedOut++;
      }
    }
    const result: ImageBenchResult = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30) },
      scan: { tags: a.tags, seconds: Math.round(scanSeconds * 1000) / 1000, controllerPeakRssMiB: peak, controllerRssBeforeMiB: rssBefore },
      loop: { what: "tag pushed (and ImageRepository asked to scan) → commit with the tag on the branch", latency: summarize(seconds, timedOut) },
      ...(pods ? { rollout: { what: "tag pushed → the Deployment's pod runs the tag and is Ready (GitRepository polling every 1s)", latency: summarize(rollout, rolloutTimedOut) } } : {}),
    };
    const day = result.date.slice(0, 10);
    await fs.mkdir(a.out, { recursive: true });
    await fs.writeFile(path.join(a.out, `${day}-image.json`), JSON.stringify(result, null, 2) + "\n");
    const md = [
      `# Image automation (${day})`,
      "",
      `Machine: ${result.machine.cpus} CPUs, ${result.machine.memGiB} GiB. Controllers: ${which} in one local process; Debian's docker-registry; the local git host${pods ? "; pods on the real node" : ""}.`,
      "",
      "| measure | value |",
      "| --- | --- |",
      `| ImageRepository scan of ${a.tags} tags (creation → Ready) | ${result.scan.seconds} s |`,
      `| controller peak RSS before / after the scan | ${rssBefore ?? "?"} MiB / ${peak ?? "?"} MiB |`,
      `| tag pushed → commit on the branch, p50 of ${a.samples} | ${result.loop.latency.medianSeconds ?? "-"} s (p95 ${result.loop.latency.p95Seconds ?? "-"} s, max ${result.loop.latency.maxSeconds ?? "-"} s, timed out ${timedOut}) |`,
      ...(result.rollout
        ? [`| tag pushed → pod Ready on the real node, p50 of ${a.samples} | ${result.rollout.latency.medianSeconds ?? "-"} s (p95 ${result.rollout.latency.p95Seconds ?? "-"} s, max ${result.rollout.latency.maxSeconds ?? "-"} s, timed out ${rolloutTimedOut}) |`]
        : ["| tag pushed → pod running | not measured: the cluster has no real node |"]),
      "",
    ].join("\n");
    await fs.writeFile(path.join(a.out, `${day}-image.md`), md);
    process.stdout.write(md);
    return timedOut || rolloutTimedOut ? 1 : 0;
  } finally {
    controllers?.kill("SIGTERM");
    registry.child.kill("SIGTERM");
    await gitServer.close();
    await admin.delete(nsRef, undefined, ns).catch((err: unknown) => {
      if (!isNotFound(err)) process.stderr.write(`could not delete namespace ${ns}: ${(err as Error).message}\n`);
    });
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
