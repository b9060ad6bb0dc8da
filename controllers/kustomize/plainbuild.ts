// The common case without kustomize: a directory of plain manifests (no kustomization file, so Flux would
// generate one listing them) and a Kustomization without overrides or postBuild. kustomize would print the
// same objects; building in process saves a kustomize process per reconcile. Anything kustomize would
// transform, reject or expand (lists, anchors, duplicate objects, odd documents) goes to kustomize instead.
import * as fs from "node:fs";
import * as path from "node:path";
import { isAlias, isNode, isPair, isScalar, parseAllDocuments, visit, type Document } from "yaml";
import type { KustomizationSpec } from "../api/kustomize";
import { findKustomizationFile, scanResources } from "./generate";

type PlainSpec = Pick<KustomizationSpec, "targetNamespace" | "namePrefix" | "nameSuffix" | "patches" | "images" | "components" | "postBuild">;

/** True when the spec asks kustomize (or substitution) to transform the objects. */
export function specTransforms(spec: PlainSpec): boolean {
  return !!(spec.targetNamespace || spec.namePrefix || spec.nameSuffix || spec.patches?.length || spec.images?.length || spec.components?.length || spec.postBuild);
}

/**
 * What `kustomize build` prints for dir when it holds plain manifests only, as YAML documents separated by
 * "---"; undefined when the build needs kustomize.
 */
export function plainBuild(dir: string, root: string, spec: PlainSpec): string | undefined {
  if (specTransforms(spec) || findKustomizationFile(dir)) return undefined;
  const docs: string[] = [];
  const seen = new Set<string>();
  for (const rel of scanResources(dir, root)) {
    const file = path.join(dir, rel);
    if (!fs.statSync(file).isFile()) return undefined; // a nested kustomization
    for (const doc of parseAllDocuments(fs.readFileSync(file, "utf8"))) {
      if (doc.errors.length || doc.warnings.length || usesReferences(doc)) return undefined;
      const obj = doc.toJS() as unknown;
      if (obj === null || obj === undefined) continue;
      if (typeof obj !== "object" || Array.isArray(obj)) return undefined;
      const o = obj as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
      if (typeof o.apiVersion !== "string" || typeof o.kind !== "string" || o.kind.endsWith("List")) return undefined;
      if (typeof o.metadata?.name !== "string" || o.metadata.name === "") return undefined;
      const id = `${o.apiVersion.split("/").length > 1 ? o.apiVersion.split("/")[0] : ""}/${o.kind}/${String(o.metadata.namespace ?? "")}/${o.metadata.name}`;
      if (seen.has(id)) return undefined;
      seen.add(id);
      docs.push(String(doc).replace(/^---\n/, ""));
    }
  }
  return docs.join("---\n");
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
