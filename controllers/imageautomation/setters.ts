// The Setters strategy: a scalar followed on its line by `# {"$imagepolicy": "<namespace>:<name>"}` gets the
// policy's latest image ("<name>:<tag>[@<digest>]"); with ":tag", ":name" or ":digest" after the policy name,
// only that part. Edits work on the file's text at the scalar's source range from the YAML parser's concrete
// syntax tree, keeping the scalar's quoting: every other byte of the file (comments, order, indentation, flow
// style, anchors, other documents, line endings) stays as it was.
import * as Y from "yaml";
import type { ImageRef } from "../api/image";

export const setterKey = "$imagepolicy";

export class SetterError extends Error {}

/** One marked scalar's change. */
export interface Change {
  OldValue: string;
  NewValue: string;
  /** The marker's value, e.g. "flux-system:app:tag". */
  Setter: string;
}

/** The Kubernetes object (document) a change is in. */
export interface ObjectIdentifier {
  APIVersion: string;
  Kind: string;
  Name: string;
  Namespace: string;
}

export interface FileEdit {
  /** The new text; equal to the old one when nothing changed. */
  text: string;
  changes: { object: ObjectIdentifier; change: Change }[];
}

interface Marker {
  namespace: string;
  name: string;
  field?: "tag" | "name" | "digest";
  raw: string;
}

const markerPattern = /^[ \t]*#[ \t]*(\{.*\})[ \t]*$/;

/** The marker in a line comment (the text after a scalar up to the line's end); undefined when there is none. */
export function parseMarker(rest: string, where: string): Marker | undefined {
  if (!rest.includes(setterKey)) return undefined;
  const m = markerPattern.exec(rest);
  if (!m) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(m[1]!);
  } catch {
    throw new SetterError(`${where}: malformed image policy marker '${m[1]}': not JSON (want # {"$imagepolicy": "<namespace>:<name>"})`);
  }
  const value = (json as Record<string, unknown>)[setterKey];
  if (typeof value !== "string") throw new SetterError(`${where}: malformed image policy marker '${m[1]}': "$imagepolicy" must be a string "<namespace>:<name>"`);
  const parts = value.split(":");
  const ok = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  if (parts.length < 2 || parts.length > 3 || !ok.test(parts[0]!) || !ok.test(parts[1]!)) {
    throw new SetterError(`${where}: malformed image policy marker '${value}': want '<namespace>:<name>', optionally followed by ':tag', ':name' or ':digest'`);
  }
  const field = parts[2];
  if (field !== undefined && field !== "tag" && field !== "name" && field !== "digest") {
    throw new SetterError(`${where}: malformed image policy marker '${value}': unknown field '${field}' (use ':tag', ':name' or ':digest')`);
  }
  return { namespace: parts[0]!, name: parts[1]!, field, raw: value };
}

/** The value a marker sets from a policy's latest image. */
export function markerValue(ref: ImageRef, field: Marker["field"]): string | undefined {
  if (field === "tag") return ref.tag;
  if (field === "name") return ref.name;
  if (field === "digest") return ref.digest;
  return `${ref.name}:${ref.tag}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The scalar's new source text, in the style of the old one. */
function render(token: { type: string; source: string }, value: string): string {
  if (token.type === "double-quoted-scalar") return JSON.stringify(value);
  if (token.type === "single-quoted-scalar") return `'${value.replace(/'/g, "''")}'`;
  // A plain scalar stays plain when it still reads back as this string; else it is quoted.
  let back: unknown;
  try {
    back = Y.parse(`k: ${value}`) as unknown;
  } catch {
    back = undefined;
  }
  const plainOk = value !== "" && !/^\s|\s$|[#,[\]{}]|: /.test(value) && (back as { k?: unknown } | undefined)?.k === value;
  return plainOk ? value : JSON.stringify(value);
}

function objectOf(doc: Y.Document.Parsed): ObjectIdentifier {
  let js: Record<string, unknown> = {};
  try {
    const v = doc.toJS() as unknown;
    if (v && typeof v === "object" && !Array.isArray(v)) js = v as Record<string, unknown>;
  } catch {
    // aliases gone wrong and the like: an object without identity
  }
  const meta = (js.metadata && typeof js.metadata === "object" ? js.metadata : {}) as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === "string" ? x : "");
  return { APIVersion: str(js.apiVersion), Kind: str(js.kind), Name: str(meta.name), Namespace: str(meta.namespace) };
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/**
 * Applies the markers of one file. `policies` maps "<namespace>:<name>" to the latest image of each selected
 * policy; markers of other policies are left alone. Throws SetterError for a malformed marker or a file with a
 * marker that is not valid YAML.
 */
export function applySetters(text: string, file: string, policies: ReadonlyMap<string, ImageRef>): FileEdit {
  if (!text.includes(setterKey)) return { text, changes: [] };
  const docs = Y.parseAllDocuments(text, { keepSourceTokens: true, uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const edits: { start: number; end: number; replacement: string; object: ObjectIdentifier; change: Change }[] = [];
  for (const doc of list) {
    if (doc.errors.length) throw new SetterError(`${file}: not valid YAML, so its image policy markers cannot be applied: ${doc.errors[0]!.message.split("\n")[0]}`);
    let object: ObjectIdentifier | undefined;
    Y.visit(doc, {
      Scalar(_key, node) {
        const token = node.srcToken as { type: string; offset: number; source: string } | undefined;
        if (!token || token.type === "block-scalar" || node.value === null || typeof node.value === "object") return;
        // A plain 9 or true is the text the file holds; quoted scalars are strings.
        const current = typeof node.value === "string" ? node.value : token.source;
        const end = token.offset + token.source.length;
        let eol = text.indexOf("\n", end);
        if (eol === -1) eol = text.length;
        const rest = text.slice(end, eol).replace(/\r$/, "");
        const marker = parseMarker(rest, `${file}:${lineOf(text, token.offset)}`);
        if (!marker) return;
        const ref = policies.get(`${marker.namespace}:${marker.name}`);
        if (!ref) return;
        const value = markerValue(ref, marker.field);
        if (value === undefined || value === current) return;
        object ??= objectOf(doc);
        edits.push({ start: token.offset, end, replacement: render(token, value), object, change: { OldValue: current, NewValue: value, Setter: marker.raw } });
      },
    });
  }
  if (!edits.length) return { text, changes: [] };
  edits.sort((a, b) => a.start - b.start);
  let out = "";
  let at = 0;
  for (const e of edits) {
    out += text.slice(at, e.start) + e.replacement;
    at = e.end;
  }
  out += text.slice(at);
  return { text: out, changes: edits.map((e) => ({ object: e.object, change: e.change })) };
}
