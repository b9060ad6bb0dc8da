// Mooring's own images on a local cluster's real node: the controllers image (under the reference the
// install renders by default) and the demo app image the example fleet runs. Both are built offline from this
// checkout (local/image.ts, cached machine-wide) and imported into the node only when it does not already
// hold that exact manifest, so an unchanged checkout costs a cache check and one `ctr images ls`.
import * as path from "node:path";
import { ensureControllersImage, ensureDemoAppImage, type BuiltImage } from "./image";
import type { Progress } from "./imagecache";
import { importImage } from "./nodeimages";
import { nodeLayout } from "./nodeconfig";
import { run } from "./network";

export interface ProvidedImage {
  ref: string;
  manifestDigest: string;
  /** True when the node lacked this manifest and it was imported now. */
  imported: boolean;
  /** True when an input changed and the archive was built now. */
  built: boolean;
}

/** The manifest digest the node's containerd holds for ref, or undefined when it has no such image. */
export async function nodeImageDigest(dir: string, ref: string): Promise<string | undefined> {
  const socket = nodeLayout(path.resolve(dir)).containerdSocket;
  const out = await run("ctr", ["--address", socket, "--namespace", "k8s.io", "images", "ls", `name==${ref}`]);
  // Columns: REF TYPE DIGEST SIZE PLATFORMS LABELS; the first line is the header.
  for (const line of out.split("\n").slice(1)) {
    const [name, , digest] = line.trim().split(/\s+/);
    if (name === ref && digest?.startsWith("sha256:")) return digest;
  }
  return undefined;
}

/** Import image into the node of dir unless it already holds the same manifest under the same reference. */
export async function provideImage(dir: string, image: BuiltImage): Promise<ProvidedImage> {
  const present = await nodeImageDigest(dir, image.ref);
  const imported = present !== image.manifestDigest;
  if (imported) await importImage(dir, image.archive);
  return { ref: image.ref, manifestDigest: image.manifestDigest, imported, built: image.built };
}

/**
 * Build (or take from the cache) the controllers and demo app images and make them available to the real
 * node of the cluster in dir, so a Bootstrap with default arguments and examples/fleet run there.
 */
export async function provideMooringImages(dir: string, progress: Progress = () => {}): Promise<ProvidedImage[]> {
  const out: ProvidedImage[] = [];
  for (const ensure of [ensureControllersImage, ensureDemoAppImage]) {
    const started = Date.now();
    const image = await ensure({ progress });
    const provided = await provideImage(dir, image);
    const what = provided.imported ? (provided.built ? "built and imported" : "imported") : "already on the node";
    progress(`image ${provided.ref}: ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    out.push(provided);
  }
  return out;
}
