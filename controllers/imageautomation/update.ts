// Applies the setters to every YAML file under the update path of a checkout: reads, edits in memory, and
// writes only after every file was edited, so a malformed marker leaves the work tree untouched.
import * as fs from "node:fs";
import * as path from "node:path";
import type { ImageRef } from "../api/image";
import { applySetters, SetterError, type Change, type ObjectIdentifier } from "./setters";
import { TemplateMap } from "./template";

export interface UpdateResult {
  /** Changes per file (path relative to the repository root, '/'-separated). */
  files: Map<string, { object: ObjectIdentifier; change: Change }[]>;
}

async function* yamlFiles(dir: string, root: string): AsyncGenerator<string> {
  const entries = await fs.promises.readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === ".git") continue;
      yield* yamlFiles(full, root);
    } else if (e.isFile() && /\.ya?ml$/i.test(e.name)) yield full;
  }
}

/** Resolves the update path inside the checkout; refuses one that leaves it. */
export function updateRoot(checkout: string, updatePath: string | undefined): string {
  const root = path.resolve(checkout, updatePath ?? ".");
  const rel = path.relative(checkout, root);
  if (rel.startsWith("..") || path.isAbsolute(rel)) throw new SetterError(`update path '${updatePath}' points outside the repository`);
  return root;
}

export async function updateFiles(checkout: string, updatePath: string | undefined, policies: ReadonlyMap<string, ImageRef>): Promise<UpdateResult> {
  const root = updateRoot(checkout, updatePath);
  if (!fs.existsSync(root)) throw new SetterError(`update path '${updatePath}' does not exist in the repository`);
  const pending: { file: string; text: string }[] = [];
  const files: UpdateResult["files"] = new Map();
  for await (const file of yamlFiles(root, root)) {
    const rel = path.relative(checkout, file).split(path.sep).join("/");
    const before = await fs.promises.readFile(file, "utf8");
    const edit = applySetters(before, rel, policies);
    if (edit.text === before) continue;
    pending.push({ file, text: edit.text });
    files.set(rel, edit.changes);
  }
  for (const p of pending) await fs.promises.writeFile(p.file, p.text);
  return { files };
}

function objectKey(o: ObjectIdentifier): string {
  return `${o.Namespace}/${o.Kind}/${o.Name}`;
}

/** Flux's template data for the commit message: .AutomationObject, .Changed (FileChanges, Objects, Changes), .Values. */
export function templateData(automation: { namespace: string; name: string }, result: UpdateResult, values: Record<string, string> | undefined): unknown {
  const objects = new Map<string, { id: ObjectIdentifier; changes: Change[] }>();
  const all: Change[] = [];
  const fileChanges: Record<string, TemplateMap> = {};
  for (const [file, changes] of result.files) {
    const perObject = new Map<string, { id: ObjectIdentifier; changes: Change[] }>();
    for (const { object, change } of changes) {
      all.push(change);
      for (const map of [objects, perObject]) {
        const entry = map.get(objectKey(object)) ?? { id: object, changes: [] };
        entry.changes.push(change);
        map.set(objectKey(object), entry);
      }
    }
    fileChanges[file] = new TemplateMap([...perObject.values()].map((e) => [identifier(e.id), e.changes]));
  }
  return {
    AutomationObject: { Name: automation.name, Namespace: automation.namespace, toString: () => `${automation.namespace}/${automation.name}` },
    Changed: {
      FileChanges: fileChanges,
      Objects: new TemplateMap([...objects.values()].map((e) => [identifier(e.id), e.changes])),
      Changes: all,
    },
    Values: new TemplateMap(Object.entries(values ?? {}), ""),
  };
}

function identifier(id: ObjectIdentifier): ObjectIdentifier & { toString(): string } {
  return { ...id, toString: () => `${id.Kind}/${id.Namespace ? `${id.Namespace}/` : ""}${id.Name}` };
}

/** The default commit message (when spec.git.commit.messageTemplate is empty). */
export const defaultMessageTemplate = `Update images by {{ .AutomationObject }}

Files:
{{ range $file, $_ := .Changed.FileChanges -}}
- {{ $file }}
{{ end }}
Objects:
{{ range $object, $changes := .Changed.Objects -}}
- {{ $object.Kind }} {{ $object.Name }}
{{- range $_, $c := $changes }}
  {{ $c.OldValue }} -> {{ $c.NewValue }}
{{- end }}
{{ end -}}
`;
