// The common case without kustomize: a directory of plain manifests (no kustomization file, so Flux would
// generate one listing them) and a Kustomization without overrides or postBuild. kustomize would print the
// same objects; building in process saves a kustomize process per reconcile. Anything kustomize would
// transform, reject or expand (lists, anchors, duplicate objects, odd documents) goes to kustomize instead.
// The directory is read from disk, or straight from the unpacked artifact in memory.
import * as fs from "node:fs";
import * as path from "node:path";
import { CORE_SCHEMA, loadAll } from "js-yaml";
import { isAlias, isNode, isPair, isScalar, parseAllDocuments, visit, type Document } from "yaml";
import type { KustomizationSpec } from "../api/kustomize";
import { findKustomizationFile, kustomizationFileNames } from "./generate";
import type { Manifest } from "./inventory";

type PlainSpec = Pick<KustomizationSpec, "targetNamespace" | "namePrefix" | "nameSuffix" | "patches" | "images" | "components" | "postBuild">;

/** True when the spec asks kustomize (or substitution) to transform the objects. */
export function specTransforms(spec: PlainSpec): boolean {
  return !!(spec.targetNamespace || spec.namePrefix || spec.nameSuffix || spec.patches?.length || spec.images?.length || spec.components?.length || spec.postBuild);
}

/** A file under the built directory: its path relative to it ("a/b.yaml") and its content. */
export interface PlainFile {
  path: string;
  text: string;
}

const isYaml = (name: string): boolean => /\.ya?ml$/i.test(name);

/**
 * The objects `kustomize build` prints for dir when it holds plain manifests only; undefined when the build
 * needs kustomize (which also reports any error).
 */
export function plainBuild(dir: string, spec: PlainSpec): Manifest[] | undefined {
  if (specTransforms(spec) || findKustomizationFile(dir)) return undefined;
  const files: PlainFile[] = [];
  const walk = (rel: string): boolean => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      if (name.startsWith(".")) continue;
      const relPath = rel ? `${rel}/${name}` : name;
      const st = fs.statSync(path.join(dir, relPath));
      if (st.isDirectory()) {
        if (findKustomizationFile(path.join(dir, relPath)) || !walk(relPath)) return false; // a nested kustomization
      } else if (st.isFile() && isYaml(name) && !kustomizationFileNames.includes(name)) {
        files.push({ path: relPath, text: fs.readFileSync(path.join(dir, relPath), "utf8") });
      }
    }
    return true;
  };
  return walk("") ? plainObjects(files) : undefined;
}

/**
 * plainBuild over files held in memory (all files under the directory, paths relative to it, none a
 * kustomization file): the same selection and order as the walk of a generated kustomization.
 */
export function plainBuildFiles(all: readonly { path: string; data: Buffer }[], spec: PlainSpec): Manifest[] | undefined {
  if (specTransforms(spec)) return undefined;
  const chosen = all
    .map((f) => ({ f, parts: f.path.split("/") }))
    .filter(({ parts }) => !parts.some((p) => p.startsWith(".")) && isYaml(parts[parts.length - 1]!))
    .sort((a, b) => compareParts(a.parts, b.parts));
  return plainObjects(chosen.map(({ f }) => ({ path: f.path, text: f.data.toString("utf8") })));
}

/** Directory-walk order: name by name, each level sorted. */
function compareParts(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length - b.length;
}

/**
 * The objects of YAML files in build order. Files holding no Kubernetes object are not resources of a
 * generated kustomization and are left out; anything kustomize would treat differently gives undefined.
 */
export function plainObjects(files: readonly PlainFile[]): Manifest[] | undefined {
  const out: Manifest[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const values = simpleValues(file.text) ?? checkedValues(file.text);
    if (!values) return undefined;
    if (!values.some((v) => typeof v === "object" && v !== null && "apiVersion" in v && "kind" in v)) continue;
    for (const obj of values) {
      if (obj === null || obj === undefined) continue;
      if (typeof obj !== "object" || Array.isArray(obj)) return undefined;
      const o = obj as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
      if (typeof o.apiVersion !== "string" || typeof o.kind !== "string" || o.kind.endsWith("List")) return undefined;
      if (typeof o.metadata !== "object" || o.metadata === null || typeof o.metadata.name !== "string" || o.metadata.name === "") return undefined;
      const id = `${o.apiVersion.split("/").length > 1 ? o.apiVersion.split("/")[0] : ""}/${o.kind}/${String(o.metadata.namespace ?? "")}/${o.metadata.name}`;
      if (seen.has(id)) return undefined;
      seen.add(id);
      out.push(obj as Manifest);
    }
  }
  return out;
}

/**
 * The documents of a file with the checks of the full YAML parser: undefined on errors, on warnings in a file
 * with Kubernetes objects, and on anchors, aliases or merge keys.
 */
export function checkedValues(text: string): unknown[] | undefined {
  const docs = parseAllDocuments(text);
  if (docs.some((d) => d.errors.length)) return undefined;
  // Anchors, aliases and merge keys need one of the characters & * <; most files have none.
  if (/[&*<]/.test(text) && docs.some(usesReferences)) return undefined;
  const values = docs.map((d) => d.toJS() as unknown);
  if (values.some((v) => typeof v === "object" && v !== null && "apiVersion" in v && "kind" in v) && docs.some((d) => d.warnings.length)) return undefined;
  return values;
}

/**
 * What leaves a file to the full parser: anchors, aliases and merge keys (& * <), tags (!), directives (%),
 * complex keys (?), and numbers the two parsers read differently (YAML 1.1's 1_000, and 0b101, which js-yaml
 * takes for binary).
 */
const needsFullParser = /[&*<!]|^%|^[ \t-]*\?(?:[ \t]|$)|\d_\d|\b0b[01]/m;

/**
 * The documents of a plain file, parsed by the much faster js-yaml with YAML 1.2's core schema (the same
 * scalars as the full parser: no timestamps, no YAML 1.1 booleans or octals); undefined when the file uses
 * anything beyond plain maps, lists and scalars, or does not parse: the full parser then decides.
 */
export function simpleValues(text: string): unknown[] | undefined {
  if (needsFullParser.test(text)) return undefined;
  try {
    return loadAll(text, undefined, { schema: CORE_SCHEMA });
  } catch {
    return undefined;
  }
}

/** Anchors, aliases or merge keys: kustomize resolves them its own way. */
function usesReferences(doc: Document): boolean {
  let found = false;
  visit(doc, (_key, node) => {
    if (isAlias(node) || (isNode(node) && node.anchor) || (isPair(node) && isScalar(node.key) && node.key.value === "<<")) {
      found = true;
      return visit.BREAK;
    }
    return undefined;
  });
  return found;
}
