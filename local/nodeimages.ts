// Images for the real node, built offline (nothing can be pulled) and imported into its containerd: the pause
// image (our own static Go program, local/pause), CoreDNS (the pinned binary), and any static Go program
// (test workloads). Archives are cached machine-wide by the digest of their inputs.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { layerFromDir, writeOciArchive, type ImageConfig } from "./oci";
import { cacheRoot, projectRoot, toolPath } from "./tools";
import { corednsImage, nodeLayout, pauseImage } from "./nodeconfig";
import { run } from "./network";

/** Machine-wide cache of image archives built here. */
export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(path.dirname(cacheRoot(env)), "images");
}

async function fileDigest(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Digest of a Go program's sources (go.mod and every .go file, by name and content). */
async function sourceDigest(dir: string): Promise<string> {
  const hash = createHash("sha256");
  for (const name of (await fs.readdir(dir)).filter((n) => n === "go.mod" || n.endsWith(".go")).sort()) {
    hash.update(name).update("\0").update(await fs.readFile(path.join(dir, name))).update("\0");
  }
  return hash.digest("hex");
}

/** An archive holding one static binary at /<name>, with that binary as entrypoint; cached by key. */
async function singleBinaryImage(ref: string, key: string, binary: string, name: string, config: ImageConfig = {}): Promise<string> {
  const cache = imageCacheDir();
  const out = path.join(cache, `${ref.replace(/[^A-Za-z0-9.-]+/g, "_")}-${key.slice(0, 16)}.tar`);
  if (await fs.access(out).then(() => true, () => false)) return out;
  await fs.mkdir(cache, { recursive: true });
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-image-"));
  try {
    const root = path.join(work, "root");
    await fs.mkdir(root);
    await fs.copyFile(binary, path.join(root, name));
    await fs.chmod(path.join(root, name), 0o755);
    const layer = await layerFromDir(root, path.join(work, "layer.tar"));
    await writeOciArchive(out, { ref, layers: [layer], config: { entrypoint: [`/${name}`], ...config } });
    return out;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/**
 * Build the static Go program in srcDir (its own go.mod, no dependencies) with the machine's Go and pack it
 * as image `ref` with the program as entrypoint. Returns the archive path.
 */
export async function goProgramImage(srcDir: string, ref: string, config: ImageConfig = {}): Promise<string> {
  const key = createHash("sha256").update(await sourceDigest(srcDir)).update(ref).update(JSON.stringify(config)).digest("hex");
  const name = path.basename(srcDir);
  const cached = path.join(imageCacheDir(), `${ref.replace(/[^A-Za-z0-9.-]+/g, "_")}-${key.slice(0, 16)}.tar`);
  if (await fs.access(cached).then(() => true, () => false)) return cached;
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-gobuild-"));
  try {
    const bin = path.join(work, name);
    await new Promise<void>((resolve, reject) => {
      // The machine's Go, offline: the program has no dependencies.
      const env = { ...process.env, CGO_ENABLED: "0", GOTOOLCHAIN: "local", GOWORK: "off", GOFLAGS: "-mod=mod", GOPROXY: "off" };
      execFile("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", bin, "."], { cwd: srcDir, env, timeout: 300_000 }, (err, _o, stderr) => {
        if (!err) return resolve();
        const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "Go is not on PATH (the images are built with the machine's Go)" : stderr.trim() || err.message;
        reject(new Error(`building ${ref} from ${srcDir}: go build failed: ${why}`));
      });
    });
    return await singleBinaryImage(ref, key, bin, name, config);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** The pause image: local/pause built statically. */
export function pauseImageArchive(): Promise<string> {
  return goProgramImage(path.join(projectRoot(), "local", "pause"), pauseImage);
}

/** CoreDNS from the pinned binary (built with CGO off: static). */
export async function corednsImageArchive(): Promise<string> {
  const bin = await toolPath("coredns");
  const key = createHash("sha256").update(await fileDigest(bin)).update(corednsImage).digest("hex");
  return singleBinaryImage(corednsImage, key, bin, "coredns");
}

/**
 * Make an OCI image archive available to the node of the cluster in DIR (`ctr images import` into its
 * containerd's k8s.io namespace). Pods use it with imagePullPolicy IfNotPresent or Never.
 */
export async function importImage(dir: string, archivePath: string): Promise<void> {
  const socket = nodeLayout(path.resolve(dir)).containerdSocket;
  if (!(await fs.access(socket).then(() => true, () => false))) {
    throw new Error(`cannot import ${archivePath}: no node runs in ${dir} (no containerd socket ${socket}); start it with \`mooring local up --dir ${dir}\``);
  }
  await run("ctr", ["--address", socket, "--namespace", "k8s.io", "images", "import", "--snapshotter", "overlayfs", archivePath], 300_000).catch((err: Error) => {
    throw new Error(`importing ${archivePath} into the node of ${dir}: ${err.message}`);
  });
}
