// Image names as registries know them: "app" is Docker Hub's "index.docker.io/library/app", a first path
// component with a dot, a colon or "localhost" is a registry host. A name for scanning carries no tag or digest.

export interface ImageName {
  /** Registry host[:port] the API is asked at. */
  registry: string;
  /** Repository path in the registry. */
  repository: string;
  /** "<registry>/<repository>", the name Flux reports as status.canonicalImageName. */
  canonical: string;
}

export class ImageNameError extends Error {}

const dockerHub = "index.docker.io";
const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

export function parseImageName(raw: string): ImageName {
  const image = raw.trim();
  if (!image) throw new ImageNameError("image name is empty");
  if (image.includes("://")) throw new ImageNameError(`image name '${raw}' must not have a scheme (write 'host/path', not a URL)`);
  if (image.includes("@")) throw new ImageNameError(`image name '${raw}' must not contain a digest`);
  const parts = image.split("/");
  const first = parts[0]!;
  const hasHost = parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost");
  let registry = hasHost ? first : dockerHub;
  if (registry === "docker.io" || registry === "registry-1.docker.io") registry = dockerHub;
  const path = hasHost ? parts.slice(1) : parts;
  if (path.length && /:/.test(path[path.length - 1]!)) throw new ImageNameError(`image name '${raw}' must not contain a tag`);
  if (registry === dockerHub && path.length === 1) path.unshift("library");
  for (const p of path) if (!component.test(p)) throw new ImageNameError(`image name '${raw}': '${p}' is not a valid repository path component (lowercase letters, digits, '.', '_', '-')`);
  const repository = path.join("/");
  return { registry, repository, canonical: `${registry}/${repository}` };
}
