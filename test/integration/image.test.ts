// The images built offline, as a user builds them (`mooring image build`), checked as their consumers see
// them: the OCI archive's index, manifest and config; root-owned layers; and the image run for real with runc
// (Debian's package, as the local node's containerd uses it) on the unpacked layers: non-root, read-only root
// filesystem, a tmpfs at /tmp, the image's own entrypoint, environment and working directory.
import { strict as assert } from "node:assert";
import { execFile, spawn } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { projectRoot } from "../../local/tools";

const run = promisify(execFile);
const mooring = path.join(projectRoot(), "bin", "mooring.js");
const version = (JSON.parse(readFileSync(path.join(projectRoot(), "package.json"), "utf8")) as { version: string }).version;

interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface Unpacked {
  ref: string;
  archive: string;
  layout: string;
  manifest: { layers: OciDescriptor[] };
  config: { config: { User: string; Env: string[]; Entrypoint: string[]; WorkingDir: string; ExposedPorts?: Record<string, unknown> }; rootfs: { diff_ids: string[] } };
  blob(d: OciDescriptor): string;
}

/** `mooring image build ARGS --out DIR` → the archive unpacked into DIR/layout. */
async function build(args: string[], dir: string): Promise<Unpacked> {
  const out = await run(process.execPath, [mooring, "image", "build", ...args, "--out", dir], { timeout: 20 * 60_000, maxBuffer: 16 << 20 });
  const [ref, archive] = out.stdout.trim().split("\t");
  assert.ok(ref && archive, `mooring image build prints "<ref>\\t<archive>", got ${JSON.stringify(out.stdout)}`);
  const layout = path.join(dir, "layout");
  await fs.mkdir(layout);
  await run("tar", ["-xf", archive, "-C", layout]);
  const blob = (d: OciDescriptor) => path.join(layout, "blobs", "sha256", d.digest.replace(/^sha256:/, ""));
  const index = JSON.parse(await fs.readFile(path.join(layout, "index.json"), "utf8")) as { manifests: OciDescriptor[] };
  assert.equal(index.manifests.length, 1);
  assert.equal(index.manifests[0]!.annotations?.["io.containerd.image.name"], ref, "containerd imports it under its reference");
  const manifest = JSON.parse(await fs.readFile(blob(index.manifests[0]!), "utf8")) as Unpacked["manifest"] & { config: OciDescriptor };
  const config = JSON.parse(await fs.readFile(blob(manifest.config), "utf8")) as Unpacked["config"];
  return { ref, archive, layout, manifest, config, blob };
}

/** `tar -tv` of a layer: name → [mode, owner] (numeric owner). */
async function listLayer(file: string): Promise<Map<string, { mode: string; owner: string }>> {
  const { stdout } = await run("tar", ["--numeric-owner", "-tvzf", file], { maxBuffer: 256 << 20 });
  const entries = new Map<string, { mode: string; owner: string }>();
  for (const line of stdout.trim().split("\n")) {
    const f = line.split(/\s+/);
    entries.set(f[5]!.replace(/^\.\//, ""), { mode: f[0]!, owner: f[1]! });
  }
  return entries;
}

/** The image's layers unpacked in order into `dir` (the root filesystem every bundle of the image shares). */
async function unpack(image: Unpacked, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  for (const layer of image.manifest.layers) await run("tar", ["-xzf", image.blob(layer), "-C", dir, "--numeric-owner"], { maxBuffer: 16 << 20 });
  return dir;
}

/** A runc bundle on `rootfs` with the image's config and `args` appended to its entrypoint. */
async function bundle(image: Unpacked, rootfs: string, dir: string, opts: { args?: string[]; entrypoint?: string[]; env?: string[] } = {}): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  await run("runc", ["spec"], { cwd: dir });
  const spec = JSON.parse(await fs.readFile(path.join(dir, "config.json"), "utf8")) as {
    process: Record<string, unknown>;
    root: { path: string; readonly: boolean };
    mounts: Record<string, unknown>[];
  };
  const [uid, gid] = image.config.config.User.split(":").map(Number);
  spec.process.terminal = false;
  spec.process.user = { uid, gid };
  spec.process.env = [...image.config.config.Env, ...(opts.env ?? [])];
  spec.process.cwd = image.config.config.WorkingDir;
  spec.process.args = [...(opts.entrypoint ?? image.config.config.Entrypoint), ...(opts.args ?? [])];
  spec.root = { path: rootfs, readonly: true };
  spec.mounts.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] });
  await fs.writeFile(path.join(dir, "config.json"), JSON.stringify(spec));
  return dir;
}

let containers = 0;

/** Run the bundle once in a container (its own network namespace with loopback only); output and exit code. */
async function runOnce(bundleDir: string, state: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const id = `mooring-image-test-${process.pid}-${++containers}`;
  return new Promise((resolve, reject) => {
    execFile("runc", ["--root", state, "run", "--bundle", bundleDir, id], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe("mooring image build: the controllers image", { timeout: 25 * 60_000 }, () => {
  let dir: string;
  let image: Unpacked;
  let rootfs: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-image-"));
    image = await build([], dir);
    rootfs = await unpack(image, path.join(dir, "rootfs"));
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it("is named as the install renders it and runs as the Dockerfile describes", () => {
    assert.equal(image.ref, `ghcr.io/mooring/controllers:v${version}`);
    const c = image.config.config;
    assert.equal(c.User, "65534:65534");
    assert.equal(c.WorkingDir, "/app");
    assert.deepEqual(c.Entrypoint.slice(0, 3), ["/usr/bin/tini", "--", "node"]);
    assert.equal(c.Entrypoint.at(-1), "dist/controllers/main.js");
    assert.ok(c.Env.includes("HOME=/tmp"));
    assert.equal(image.manifest.layers.length, 6, "rootfs, node, kustomize, mooring-helm, modules, app");
    assert.equal(image.config.rootfs.diff_ids.length, 6);
  });

  it("has root-owned layers: Debian with git, ssh, gpg, CA certificates and tini; node; kustomize; the Helm helper; dependencies; the app", async () => {
    const [rootfs, node, kustomize, helmHelper, modules, app] = await Promise.all(image.manifest.layers.map((l) => listLayer(image.blob(l))));
    for (const file of ["usr/bin/git", "usr/bin/ssh", "usr/bin/gpg", "usr/bin/tini", "etc/ssl/certs/ca-certificates.crt", "etc/passwd"]) {
      assert.ok(rootfs!.has(file), `rootfs has ${file}`);
    }
    assert.equal(rootfs!.get("usr/bin/git")!.owner, "0/0");
    assert.equal(node!.get("usr/local/bin/node")!.mode, "-rwxr-xr-x");
    assert.equal(kustomize!.get("usr/local/bin/kustomize")!.mode, "-rwxr-xr-x");
    assert.equal(helmHelper!.get("usr/local/bin/mooring-helm")!.mode, "-rwxr-xr-x");
    for (const file of ["app/package.json", "app/node_modules/@kubernetes/client-node/package.json", "app/node_modules/pino/package.json"]) {
      assert.ok(modules!.has(file), `modules layer has ${file}`);
    }
    assert.ok(![...modules!.keys()].some((f) => f.startsWith("app/node_modules/typescript/")), "no dev dependencies");
    assert.ok(!modules!.has("app/package-lock.json"));
    assert.ok(app!.has("app/dist/controllers/main.js"));
    assert.ok([...app!.keys()].every((f) => f.startsWith("app/dist/") || f === "app/"), "the app layer holds dist/ only");
    for (const layer of [node!, kustomize!, helmHelper!, modules!, app!]) {
      for (const [name, e] of layer) {
        assert.equal(e.owner, "0/0", `${name} owned by root`);
        assert.doesNotMatch(e.mode.slice(1), /^.{4}w|^.{7}w/, `${name} not group/world-writable (${e.mode})`);
      }
    }
  });

  it("runs: its entrypoint starts the controllers entry as non-root on a read-only root filesystem", async () => {
    const b = await bundle(image, rootfs, path.join(dir, "run-entry"), { args: ["--help"] });
    const r = await runOnce(b, path.join(dir, "runc"));
    assert.equal(r.code, 0, `entrypoint --help exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /node dist\/controllers\/main\.js \[flags\]/);
    assert.match(r.stdout, /--controllers /);
    const bad = await runOnce(await bundle(image, rootfs, path.join(dir, "run-bad-flag"), { args: ["--no-such-flag"] }), path.join(dir, "runc"));
    assert.equal(bad.code, 2, "tini passes the entry's exit code on");
    assert.match(bad.stderr, /unknown flag: --no-such-flag/);
  });

  it("carries working git, ssh, kustomize and node for that user", async () => {
    const script = [
      "set -e",
      "id -u",
      "git --version",
      "ssh -V 2>&1",
      "kustomize version",
      "node --version",
      "node -e 'require(\"fs\").writeFileSync(require(\"os\").homedir() + \"/probe\", \"ok\")'",
      // Every controller module and its dependencies (the kube client is an ES module) load from /app.
      "node -e 'Promise.all([\"controllers/main\", \"controllers/source/index\", \"controllers/kustomize/index\", \"controllers/runtime/kube\"].map((m) => import(\"/app/dist/\" + m + \".js\"))).then((ms) => console.log(ms.length + \" modules loaded\"))'",
      "gpg --version | head -1",
      "touch /app/x 2>/dev/null && echo root-writable || echo root-read-only",
    ].join("\n");
    const b = await bundle(image, rootfs, path.join(dir, "run-tools"), { entrypoint: ["/usr/bin/tini", "--", "sh", "-c", script] });
    const r = await runOnce(b, path.join(dir, "runc"));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "65534");
    assert.match(lines[1]!, /^git version 2\./);
    assert.match(lines[2]!, /^OpenSSH_9/);
    assert.match(lines[3]!, /^v5\.7\.1/);
    assert.match(lines[4]!, /^v24\./);
    assert.equal(lines[5], "4 modules loaded");
    assert.match(lines[6]!, /^gpg \(GnuPG\) 2\./);
    assert.equal(lines.at(-1), "root-read-only");
  });

  it("is not rebuilt when nothing changed", async () => {
    const started = Date.now();
    const again = await run(process.execPath, [mooring, "image", "build"], { timeout: 5 * 60_000 });
    assert.equal(again.stdout.trim().split("\t")[0], image.ref);
    assert.match(again.stderr, /up to date/);
    assert.ok(Date.now() - started < 60_000, "a warm build only hashes its inputs");
  });
});

describe("mooring image build --demo-app: the example fleet's app", { timeout: 25 * 60_000 }, () => {
  let dir: string;
  let image: Unpacked;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-demo-image-"));
    image = await build(["--demo-app"], dir);
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it("serves its page and health inside the container, and stops on SIGTERM", async () => {
    assert.equal(image.ref, "ghcr.io/mooring/demo-app:1.0.0");
    assert.deepEqual(Object.keys(image.config.config.ExposedPorts ?? {}), ["9898/tcp"]);
    const b = await bundle(image, await unpack(image, path.join(dir, "rootfs")), path.join(dir, "run"), { env: ["UI_MESSAGE=hello from the image test"] });
    const runcRoot = path.join(dir, "runc");
    const id = `mooring-demo-test-${process.pid}`;
    const server = spawn("runc", ["--root", runcRoot, "run", "--bundle", b, id], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    server.stdout.on("data", (d: Buffer) => (out += d.toString()));
    server.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => server.on("close", (code) => r(code)));
    try {
      for (let i = 0; ; i++) {
        const state = await run("runc", ["--root", runcRoot, "state", id]).then((r) => (JSON.parse(r.stdout) as { status: string }).status, () => "absent");
        if (state === "running") break;
        assert.ok(i < 300 && server.exitCode === null, `the container did not start (${state}):\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const check = [
        "const get = (p) => fetch('http://127.0.0.1:9898' + p).then(async (r) => r.status + ' ' + (await r.text()).trim());",
        "(async () => { for (let i = 0; i < 100; i++) { try { await get('/healthz'); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }",
        "console.log(await get('/healthz')); console.log(await get('/readyz')); console.log(await get('/')); })();",
      ].join("\n");
      const probe = await run("runc", ["--root", runcRoot, "exec", "--user", "65534:65534", id, "node", "-e", check], { timeout: 60_000 });
      const lines = probe.stdout.trim().split("\n");
      assert.equal(lines[0], "200 ok");
      assert.equal(lines[1], "200 ok");
      assert.match(probe.stdout, /<h1>hello from the image test<\/h1>/);
      await run("runc", ["--root", runcRoot, "kill", id, "TERM"]);
      assert.equal(await exited, 0, `the app stops cleanly on SIGTERM:\n${out}`);
    } finally {
      await run("runc", ["--root", runcRoot, "delete", "--force", id]).catch(() => undefined);
      server.kill("SIGKILL");
    }
  });
});
