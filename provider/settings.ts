// Pure resolution of the Bootstrap's plain (non-secret) inputs into what the resources need: defaults
// applied, names checked, errors that say how to fix the input.
import { allControllers, controllerDeploymentName, defaultControllers, normalizeRepoPath, toSshUrl, type ControllerName, type ImageRef, type InstallOptions } from "../bootstrap";

export interface PlainSettingsInput {
  mode: "git" | "github";
  version?: string;
  components?: string[];
  componentsExtra?: string[];
  namespace?: string;
  interval?: string;
  networkPolicy?: boolean;
  image?: string | ImageInput;
  replicas?: Record<string, number>;
  waitForReady?: boolean;
  timeout?: number | string;
  deleteGitManifests?: boolean;
  branch?: string;
  path?: string;
  author?: { name?: string; email?: string };
}

export interface Settings {
  namespace: string;
  branch: string;
  path: string;
  interval: string;
  author: { name: string; email: string };
  install: InstallOptions;
  waitForReady: boolean;
  timeoutSeconds: number;
  deleteGitManifests: boolean;
}

export class SettingsError extends Error {
  override readonly name = "SettingsError";
}

/** `source`, `source-controller` → `source`; unknown names are an error naming the known ones. */
export function controllerNames(components: readonly string[] | undefined, extra: readonly string[] | undefined): ControllerName[] {
  const wanted = [...(components ?? defaultControllers), ...(extra ?? [])].map((c) => c.trim().replace(/-controller$/, ""));
  for (const c of wanted) {
    if (!(allControllers as readonly string[]).includes(c)) {
      throw new SettingsError(`Bootstrap: component "${c}" is not available (Mooring ships: ${allControllers.map(controllerDeploymentName).join(", ")})`);
    }
  }
  if (!wanted.includes("source")) throw new SettingsError("Bootstrap: components must include source-controller (the sync GitRepository needs it)");
  return allControllers.filter((c) => wanted.includes(c));
}

const unitSeconds: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** `300`, `"300"`, `"5m"`, `"1h30m"` → seconds. */
export function parseTimeout(value: number | string | undefined, fallback = 300): number {
  if (value === undefined || value === "") return fallback;
  if (typeof value === "number") {
    if (!(value > 0)) throw new SettingsError(`Bootstrap: timeout must be positive, got ${value}`);
    return value;
  }
  if (/^\d+(\.\d+)?$/.test(value)) return parseTimeout(Number(value));
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) throw new SettingsError(`Bootstrap: timeout "${value}" is not seconds or a duration like "5m"`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * unitSeconds[p[2]!]!, 0);
}

/** The Bootstrap's image input as parts: the reference and the pull policy. */
export interface ImageInput extends ImageRef {
  pullPolicy?: string;
}

const pullPolicies = ["Always", "IfNotPresent", "Never"] as const;
type PullPolicy = (typeof pullPolicies)[number];

/** The pull policy of an image input, checked. */
export function imagePullPolicy(image: string | ImageInput | undefined): PullPolicy | undefined {
  if (image === undefined || typeof image === "string" || image.pullPolicy === undefined) return undefined;
  if (!(pullPolicies as readonly string[]).includes(image.pullPolicy)) {
    throw new SettingsError(`Bootstrap: image.pullPolicy "${image.pullPolicy}" must be one of ${pullPolicies.join(", ")}`);
  }
  return image.pullPolicy as PullPolicy;
}

/** `{ kustomize: 2 }` or `{ "kustomize-controller": 2 }` → replicas per installed controller. */
export function controllerReplicas(replicas: Record<string, number> | undefined, installed: readonly ControllerName[]): Partial<Record<ControllerName, number>> | undefined {
  if (replicas === undefined) return undefined;
  const out: Partial<Record<ControllerName, number>> = {};
  for (const [key, n] of Object.entries(replicas)) {
    const c = key.trim().replace(/-controller$/, "");
    if (!(installed as readonly string[]).includes(c)) {
      throw new SettingsError(`Bootstrap: replicas: "${key}" is not an installed controller (installed: ${installed.map((i) => `${i}-controller`).join(", ")})`);
    }
    if (!Number.isInteger(n) || n < 0) throw new SettingsError(`Bootstrap: replicas.${key} must be a whole number of at least 0, got ${n}`);
    if (c === "source" && n > 1) throw new SettingsError(`Bootstrap: replicas.${key} is ${n}, but source-controller serves artifacts from its own storage: give 1 (more kustomize-controller replicas are fine)`);
    out[c as ControllerName] = n;
  }
  return out;
}

/** `registry/path/name:tag` or `…@sha256:…` → parts; parts pass through without the pull policy. */
export function parseImage(image: string | ImageInput | undefined): ImageRef | undefined {
  if (image === undefined) return undefined;
  if (typeof image !== "string") {
    const { pullPolicy: _policy, ...ref } = image;
    return Object.keys(ref).length ? ref : undefined;
  }
  const at = image.indexOf("@");
  const [ref, digest] = at >= 0 ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  const hasTag = colon > slash;
  const repo = hasTag ? ref.slice(0, colon) : ref;
  const tag = hasTag ? ref.slice(colon + 1) : undefined;
  const nameStart = repo.lastIndexOf("/");
  if (nameStart <= 0) throw new SettingsError(`Bootstrap: image "${image}" must be <registry>/<name>[:tag|@digest]`);
  return { registry: repo.slice(0, nameStart), name: repo.slice(nameStart + 1), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

function checkDuration(field: string, value: string): string {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) throw new SettingsError(`Bootstrap: ${field} "${value}" is not a duration like "1m0s" or "30s"`);
  return value;
}

export function resolveSettings(input: PlainSettingsInput, packageVersion: string): Settings {
  const namespace = input.namespace ?? "flux-system";
  const version = (input.version ?? packageVersion).replace(/^v/, "");
  const image = parseImage(input.image);
  const pullPolicy = imagePullPolicy(input.image);
  const controllers = controllerNames(input.components, input.componentsExtra);
  const replicas = controllerReplicas(input.replicas, controllers);
  const install: InstallOptions = {
    version,
    namespace,
    controllers,
    networkPolicy: input.networkPolicy ?? true,
    ...(image ? { image } : {}),
    ...(pullPolicy ? { imagePullPolicy: pullPolicy } : {}),
    ...(replicas ? { replicas } : {}),
  };
  return {
    namespace,
    branch: input.branch ?? "main",
    path: normalizeRepoPath(input.path),
    interval: checkDuration("interval", input.interval ?? "1m0s"),
    author: { name: input.author?.name ?? "Mooring", email: input.author?.email ?? "mooring@localhost" },
    install,
    waitForReady: input.waitForReady ?? true,
    timeoutSeconds: parseTimeout(input.timeout),
    deleteGitManifests: input.deleteGitManifests ?? true,
  };
}

/** The transport a URL uses, for choosing the cluster's credentials. */
export function urlTransport(url: string): "ssh" | "https" | "file" {
  if (/^https?:\/\//i.test(url)) return "https";
  if (/^file:\/\//i.test(url) || url.startsWith("/")) return "file";
  if (toSshUrl(url)) return "ssh";
  throw new SettingsError(`Bootstrap: git url "${url}" is not https://, http://, ssh://, git@host:path or file://`);
}

/** Host and port of an ssh URL (for known_hosts), and its ssh:// form for the GitRepository. */
export function sshEndpoint(url: string): { url: string; host: string; port: number } {
  const ssh = toSshUrl(url);
  if (!ssh) throw new SettingsError(`Bootstrap: "${url}" is not an ssh URL`);
  const parsed = new URL(ssh);
  return { url: ssh, host: parsed.hostname.replace(/^\[|\]$/g, ""), port: parsed.port ? Number(parsed.port) : 22 };
}
