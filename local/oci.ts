// OCI image archives written from plain tar layers, with no container engine: the image layout of the OCI image
// spec (oci-layout, index.json, blobs/sha256/…) packed into one tar that `ctr images import` and registries'
// tools read. Used for every image the local cluster runs (pause, the controllers, the demo app).
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, promises as fs } from "node:fs";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import { digestTap } from "../controllers/source/tarball";
import * as zlib from "node:zlib";
import * as tar from "tar";

export const mediaTypes = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

/** The runtime part of an image config (the OCI spec's `config` object). */
export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** `NAME=value` entries. */
  env?: string[];
  /** `uid[:gid]` or a user name. */
  user?: string;
  workingDir?: string;
  labels?: Record<string, string>;
  /** Ports as `8080/tcp`. */
  exposedPorts?: string[];
}

export interface ImageSpec {
  /** Full reference, e.g. `ghcr.io/mooring/controllers:v0.1.0`; recorded as the image's name for import. */
  ref: string;
  /** Uncompressed tar files, bottom layer first. */
  layers: string[];
  config: ImageConfig;
  /** gzip the layers in the archive (default true). */
  compress?: boolean;
  /** Creation time recorded in the config; fixed by default so equal inputs give an equal image digest. */
  created?: Date;
  architecture?: string;
  /**
   * A directory that keeps compressed layers between archives, keyed by the layer file's path, size and
   * modification time: a layer tar that did not change is not compressed again. Default none.
   */
  layerCache?: string;
}

export interface OciArchive {
  file: string;
  ref: string;
  /** Digest of the image manifest: the image's identity (`ref@digest`). */
  manifestDigest: string;
  /** Digest of the config blob (the image ID as containerd and Docker show it). */
  configDigest: string;
  /** Bytes of all blobs. */
  size: number;
}

interface Blob {
  digest: string;
  size: number;
}

/** Reference parts: repository and tag (or digest) of `registry/name:tag`. */
export function splitRef(ref: string): { repository: string; tag?: string; digest?: string } {
  const at = ref.indexOf("@");
  if (at >= 0) return { repository: ref.slice(0, at), digest: ref.slice(at + 1) };
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repository: ref, tag: "latest" };
}

function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

async function writeJsonBlob(blobs: string, value: unknown): Promise<Blob> {
  const text = JSON.stringify(value);
  const hex = sha256Hex(text);
  await fs.writeFile(path.join(blobs, hex), text);
  return { digest: `sha256:${hex}`, size: Buffer.byteLength(text) };
}

interface CachedLayer {
  source: string;
  size: number;
  mtimeMs: number;
  blob: Blob;
  diffId: string;
}

/** A layer from the layer cache when its tar is unchanged, else compressed and then kept there. */
async function addCachedLayer(blobs: string, tarFile: string, cache: string): Promise<{ blob: Blob; diffId: string }> {
  const source = path.resolve(tarFile);
  const st = await fs.stat(source);
  const key = sha256Hex(`${source}\0${st.size}\0${st.mtimeMs}`);
  const meta = path.join(cache, `${key}.json`);
  const stored = path.join(cache, `${key}.gz`);
  const hit = JSON.parse(await fs.readFile(meta, "utf8").catch(() => "null")) as CachedLayer | null;
  if (hit && hit.source === source && hit.size === st.size && hit.mtimeMs === st.mtimeMs) {
    const target = path.join(blobs, hit.blob.digest.slice("sha256:".length));
    const copied = await fs.link(stored, target).then(
      () => true,
      () => fs.copyFile(stored, target).then(() => true, () => false),
    );
    if (copied) return { blob: hit.blob, diffId: hit.diffId };
  }
  const layer = await addLayer(blobs, tarFile, true);
  await fs.mkdir(cache, { recursive: true });
  const tmp = `${stored}.${process.pid}.tmp`;
  await fs.copyFile(path.join(blobs, layer.blob.digest.slice("sha256:".length)), tmp);
  await fs.rename(tmp, stored);
  await fs.writeFile(meta, JSON.stringify({ source, size: st.size, mtimeMs: st.mtimeMs, ...layer } satisfies CachedLayer));
  return layer;
}

/** Drop the layer cache's entries whose layer tar is gone or changed. */
export async function pruneLayerCache(cache: string): Promise<void> {
  for (const name of await fs.readdir(cache).catch(() => [] as string[])) {
    if (!name.endsWith(".json")) continue;
    const entry = JSON.parse(await fs.readFile(path.join(cache, name), "utf8").catch(() => "null")) as CachedLayer | null;
    const st = entry ? await fs.stat(entry.source).catch(() => undefined) : undefined;
    if (entry && st && st.size === entry.size && st.mtimeMs === entry.mtimeMs) continue;
    await fs.rm(path.join(cache, name), { force: true });
    await fs.rm(path.join(cache, name.replace(/\.json$/, ".gz")), { force: true });
  }
}

/** Copy one layer into the blob store; returns the blob and the uncompressed diff id. */
async function addLayer(blobs: string, tarFile: string, compress: boolean): Promise<{ blob: Blob; diffId: string }> {
  const tmp = path.join(blobs, `.incoming-${process.pid}-${path.basename(tarFile)}`);
  const raw = digestTap();
  const stored = digestTap();
  const stages: NodeJS.ReadWriteStream[] = compress ? [raw, zlib.createGzip({ level: 6 }), stored] : [raw];
  await pipeline([createReadStream(tarFile), ...stages, createWriteStream(tmp)]);
  const blob = compress ? stored.result() : raw.result();
  await fs.rename(tmp, path.join(blobs, blob.digest.slice("sha256:".length)));
  return { blob, diffId: raw.result().digest };
}

function ociConfig(spec: ImageSpec, diffIds: string[]): Record<string, unknown> {
  const c = spec.config;
  const runtime: Record<string, unknown> = {};
  if (c.user) runtime.User = c.user;
  if (c.env?.length) runtime.Env = c.env;
  if (c.entrypoint) runtime.Entrypoint = c.entrypoint;
  if (c.cmd) runtime.Cmd = c.cmd;
  if (c.workingDir) runtime.WorkingDir = c.workingDir;
  if (c.labels && Object.keys(c.labels).length) runtime.Labels = c.labels;
  if (c.exposedPorts?.length) runtime.ExposedPorts = Object.fromEntries(c.exposedPorts.map((p) => [p, {}]));
  const created = (spec.created ?? new Date(0)).toISOString();
  return {
    created,
    architecture: spec.architecture ?? "amd64",
    os: "linux",
    config: runtime,
    rootfs: { type: "layers", diff_ids: diffIds },
    history: diffIds.map(() => ({ created, created_by: "mooring image build" })),
  };
}

/**
 * Write the image as an OCI image-layout tar at `out`. The index names the image twice: containerd's
 * `io.containerd.image.name` (the full reference, used by `ctr images import`) and the spec's
 * `org.opencontainers.image.ref.name` (the tag).
 */
export async function writeOciArchive(out: string, spec: ImageSpec): Promise<OciArchive> {
  if (spec.layers.length === 0) throw new Error(`image ${spec.ref}: at least one layer is needed`);
  const work = await fs.mkdtemp(`${out}.layout-`);
  try {
    const blobs = path.join(work, "blobs", "sha256");
    await fs.mkdir(blobs, { recursive: true });
    const layers: Blob[] = [];
    const diffIds: string[] = [];
    for (const file of spec.layers) {
      const compress = spec.compress ?? true;
      const { blob, diffId } = compress && spec.layerCache ? await addCachedLayer(blobs, file, spec.layerCache) : await addLayer(blobs, file, compress);
      layers.push(blob);
      diffIds.push(diffId);
    }
    const config = await writeJsonBlob(blobs, ociConfig(spec, diffIds));
    const layerType = (spec.compress ?? true) ? mediaTypes.layerGzip : mediaTypes.layer;
    const manifest = await writeJsonBlob(blobs, {
      schemaVersion: 2,
      mediaType: mediaTypes.manifest,
      config: { mediaType: mediaTypes.config, ...config },
      layers: layers.map((l) => ({ mediaType: layerType, ...l })),
    });
    const { tag } = splitRef(spec.ref);
    const annotations: Record<string, string> = { "io.containerd.image.name": spec.ref };
    if (tag) annotations["org.opencontainers.image.ref.name"] = tag;
    await fs.writeFile(
      path.join(work, "index.json"),
      JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.index, manifests: [{ mediaType: mediaTypes.manifest, ...manifest, annotations }] }),
    );
    await fs.writeFile(path.join(work, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    const tmpOut = `${out}.${process.pid}.tmp`;
    await tar.c({ file: tmpOut, cwd: work, portable: true, noMtime: true }, ["oci-layout", "index.json", "blobs"]);
    await fs.rename(tmpOut, out);
    const size = [...layers, config, manifest].reduce((n, b) => n + b.size, 0);
    return { file: out, ref: spec.ref, manifestDigest: manifest.digest, configDigest: config.digest, size };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/**
 * A layer tar made from a directory, every entry owned by root (uid and gid 0, no user names), modes kept and
 * modification times left out so equal trees give equal layers. `prefix` places the tree under a path in the image.
 */
export async function layerFromDir(dir: string, out: string, opts: { prefix?: string } = {}): Promise<string> {
  await tar.c({ file: out, cwd: dir, prefix: opts.prefix, portable: true, noMtime: true }, (await fs.readdir(dir)).sort());
  return out;
}
