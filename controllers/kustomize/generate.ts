// The kustomization file a build runs on: found in the path, or generated from the YAML files under it
// (as Flux does), then augmented with the Kustomization's spec overrides (targetNamespace, namePrefix,
// nameSuffix, patches, images, components). Also checks every kustomization file's references stay inside
// the artifact and, with noRemoteBases, that none is remote.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments, parse as parseYaml, stringify } from "yaml";
import type { KustomizationSpec } from "../api/kustomize";

export const kustomizationFileNames = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

export class BuildError extends Error {
  override name = "BuildError";
}

export function findKustomizationFile(dir: string): string | undefined {
  for (const n of kustomizationFileNames) if (fs.existsSync(path.join(dir, n))) return path.join(dir, n);
  return undefined;
}

const isYaml = (name: string): boolean => /\.ya?ml$/i.test(name);

/**
 * The resources a generated kustomization lists for dir: YAML files holding Kubernetes objects (apiVersion and
 * kind), recursively; a subdirectory with its own kustomization file is listed as a whole and not descended.
 * `root` is the artifact root, used to name files in errors.
 */
export function scanResources(dir: string, root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(dir, rel);
    const names = fs.readdirSync(abs).sort();
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const relPath = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, relPath);
      const st = fs.statSync(full);
      if (st.isDirectory()) {
        if (findKustomizationFile(full)) out.push(relPath);
        else walk(relPath);
      } else if (st.isFile() && isYaml(name) && !kustomizationFileNames.includes(name)) {
        if (holdsObjects(full, path.relative(root, full))) out.push(relPath);
      }
    }
  };
  walk("");
  return out;
}

function holdsObjects(file: string, shown: string): boolean {
  const docs = parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const d of docs) if (d.errors.length) throw new BuildError(`failed to decode YAML in '${shown}': ${d.errors[0]!.message.split("\n")[0]}`);
  return docs.some((d) => {
    const v = d.toJS() as unknown;
    return typeof v === "object" && v !== null && "apiVersion" in v && "kind" in v;
  });
}

type KustomizationFile = Record<string, unknown>;

/**
 * Writes the kustomization file the build uses into dir (the Kustomization's path inside the extracted
 * artifact): the existing one with the spec's overrides merged in, or a generated one.
 */
export function prepareKustomization(dir: string, root: string, spec: Pick<KustomizationSpec, "targetNamespace" | "namePrefix" | "nameSuffix" | "patches" | "images" | "components" | "ignoreMissingComponents">): string {
  const existing = findKustomizationFile(dir);
  let k: KustomizationFile;
  let file: string;
  if (existing) {
    file = existing;
    let parsed: unknown;
    try {
      parsed = parseYaml(fs.readFileSync(existing, "utf8"));
    } catch (err) {
      throw new BuildError(`failed to decode '${path.relative(root, existing)}': ${(err as Error).message.split("\n")[0]}`);
    }
    k = typeof parsed === "object" && parsed !== null ? (parsed as KustomizationFile) : {};
  } else {
    file = path.join(dir, "kustomization.yaml");
    k = { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", resources: scanResources(dir, root) };
  }
  applyOverrides(k, spec, dir);
  fs.writeFileSync(file, stringify(k, { lineWidth: 0 }));
  return file;
}

/** Merges the Kustomization's spec into a kustomization file's content (pure but for component existence). */
export function applyOverrides(k: KustomizationFile, spec: Pick<KustomizationSpec, "targetNamespace" | "namePrefix" | "nameSuffix" | "patches" | "images" | "components" | "ignoreMissingComponents">, dir?: string): KustomizationFile {
  if (spec.targetNamespace) k.namespace = spec.targetNamespace;
  if (spec.namePrefix) k.namePrefix = spec.namePrefix;
  if (spec.nameSuffix) k.nameSuffix = spec.nameSuffix;
  if (spec.patches?.length) {
    const list = Array.isArray(k.patches) ? (k.patches as unknown[]) : [];
    for (const p of spec.patches) list.push(p.target ? { patch: p.patch, target: p.target } : { patch: p.patch });
    k.patches = list;
  }
  if (spec.images?.length) {
    const list = Array.isArray(k.images) ? (k.images as unknown[]) : [];
    for (const i of spec.images) list.push(Object.fromEntries(Object.entries(i).filter(([, v]) => v !== undefined && v !== "")));
    k.images = list;
  }
  if (spec.components?.length) {
    const list = Array.isArray(k.components) ? (k.components as unknown[]) : [];
    for (const c of spec.components) {
      if (spec.ignoreMissingComponents && dir && !fs.existsSync(path.join(dir, c))) continue;
      list.push(c);
    }
    if (list.length) k.components = list;
  }
  return k;
}

/** True when a kustomization reference names a remote base (URL, git address, hosted repo, ?ref=) rather than a local path. */
export function isRemoteReference(ref: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) || /^git(@|::)/.test(ref) || /^(github\.com|gitlab\.com|bitbucket\.org)\//i.test(ref) || ref.includes("?ref=");
}

function referencesOf(k: KustomizationFile): string[] {
  const refs: string[] = [];
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  for (const key of ["resources", "bases", "components", "crds", "patchesStrategicMerge", "configurations", "transformers", "generators", "validators"]) {
    for (const s of strings(k[key])) if (!s.includes("\n")) refs.push(s);
  }
  for (const key of ["patches", "patchesJson6902"]) {
    if (Array.isArray(k[key])) for (const p of k[key] as { path?: unknown }[]) if (p && typeof p.path === "string") refs.push(p.path);
  }
  for (const key of ["configMapGenerator", "secretGenerator"]) {
    if (!Array.isArray(k[key])) continue;
    for (const g of k[key] as { files?: unknown; envs?: unknown; env?: unknown }[]) {
      for (const f of strings(g?.files)) refs.push(f.includes("=") ? f.slice(f.indexOf("=") + 1) : f);
      refs.push(...strings(g?.envs));
      if (typeof g?.env === "string") refs.push(g.env);
    }
  }
  return refs;
}

/**
 * Checks the kustomization file in dir and every kustomization it reaches: references must stay inside root,
 * and with noRemoteBases remote references are refused. Kustomize follows references only from
 * kustomization files, so this confines the build to the artifact.
 */
export function checkReferences(dir: string, root: string, noRemoteBases: boolean): void {
  const seen = new Set<string>();
  const visit = (kdir: string): void => {
    const file = findKustomizationFile(kdir);
    if (!file || seen.has(file)) return;
    seen.add(file);
    let k: unknown;
    try {
      k = parseYaml(fs.readFileSync(file, "utf8"));
    } catch (err) {
      throw new BuildError(`failed to decode '${path.relative(root, file)}': ${(err as Error).message.split("\n")[0]}`);
    }
    if (typeof k !== "object" || k === null) return;
    for (const ref of referencesOf(k as KustomizationFile)) {
      if (isRemoteReference(ref)) {
        if (noRemoteBases) throw new BuildError(`remote bases are not allowed (--no-remote-bases): '${ref}' in '${path.relative(root, file)}'`);
        continue;
      }
      const resolved = path.resolve(kdir, ref);
      if (resolved !== root && !resolved.startsWith(root + path.sep)) {
        throw new BuildError(`'${ref}' in '${path.relative(root, file)}' points outside the source artifact`);
      }
      if (fs.existsSync(resolved) && fs.statSync(resolved).isDirectory()) visit(resolved);
    }
  };
  visit(dir);
}
