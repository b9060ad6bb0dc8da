// A HelmRelease's values, composed in Flux's order: each spec.valuesFrom entry in turn (a YAML document
// deep-merged at the root, or one value set at targetPath), then spec.values merged over the result. The
// digest is the one the Helm helper reports for a stored release's values (configDigest), so "are these
// values deployed?" is a string comparison.
import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import { ReconcileError } from "../runtime/errors";
import { isNotFound, type KubeClient, type ResourceRef } from "../runtime/kube";
import type { HelmRelease, ValuesReference } from "../api/helm";

export const ValuesErrorReason = "ValuesError";

export type Values = Record<string, unknown>;

const isMap = (v: unknown): v is Values => typeof v === "object" && v !== null && !Array.isArray(v);

/** Deep merge as Helm merges values maps: maps merge key by key, anything else in `over` replaces. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isMap(b) && isMap(v) ? mergeValues(b, v) : v;
  }
  return out;
}

/**
 * Splits a targetPath in Helm's --set syntax: keys separated by dots (a backslash escapes a dot), list
 * indexes as key[0].
 */
export function parseTargetPath(path: string): (string | number)[] {
  const parts: (string | number)[] = [];
  let cur = "";
  const flush = () => {
    const m = /^(.*?)((\[\d+\])+)$/.exec(cur);
    if (m) {
      if (m[1]) parts.push(m[1]);
      for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) parts.push(Number(idx[1]));
    } else if (cur !== "") {
      parts.push(cur);
    }
    cur = "";
  };
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === "\\" && path[i + 1] === ".") {
      cur += ".";
      i++;
    } else if (c === ".") {
      if (cur === "") throw new Error(`invalid targetPath '${path}': empty key`);
      flush();
    } else {
      cur += c;
    }
  }
  flush();
  if (!parts.length) throw new Error(`invalid targetPath '${path}'`);
  return parts;
}

/** A --set value typed as Helm types it: true/false, null, integers; anything else stays a string. */
export function typedValue(raw: string): unknown {
  if (raw === "true") return true;
  if (raw === "false") return false;
  if (raw === "null") return null;
  if (/^-?(0|[1-9]\d{0,15})$/.test(raw)) return Number(raw);
  return raw;
}

/** Sets value at path inside values (creating maps and lists on the way). */
export function setPath(values: Values, path: (string | number)[], value: unknown): void {
  let node: unknown = values;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const last = i === path.length - 1;
    const nextIsIndex = typeof path[i + 1] === "number";
    if (typeof key === "number") {
      if (!Array.isArray(node)) throw new Error(`index [${key}] on a value that is not a list`);
      while (node.length <= key) node.push(null);
      if (last) node[key] = value;
      else {
        if (node[key] === null || typeof node[key] !== "object") node[key] = nextIsIndex ? [] : {};
        node = node[key];
      }
    } else {
      const m = node as Values;
      if (last) m[key] = value;
      else {
        if (m[key] === null || typeof m[key] !== "object") m[key] = nextIsIndex ? [] : {};
        node = m[key];
      }
    }
  }
}

const refs: Record<ValuesReference["kind"], ResourceRef> = {
  ConfigMap: { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true },
  Secret: { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true },
};

interface DataObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** The text under key of a ConfigMap or Secret, or undefined when the key is missing. */
function dataOf(kind: ValuesReference["kind"], obj: DataObject, key: string): string | undefined {
  if (kind === "Secret") {
    const v = obj.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
  }
  const v = obj.data?.[key];
  if (v !== undefined) return v;
  const b = obj.binaryData?.[key];
  return b === undefined ? undefined : Buffer.from(b, "base64").toString("utf8");
}

/**
 * The release's values. Errors name the object and key but never a value (Secrets). A missing object or key
 * is skipped when the reference is optional.
 */
export async function composeValues(hr: HelmRelease, client: KubeClient, signal: AbortSignal): Promise<Values> {
  let values: Values = {};
  const ns = hr.metadata.namespace!;
  for (const ref of hr.spec.valuesFrom ?? []) {
    const subject = `${ref.kind} '${ns}/${ref.name}'`;
    let obj: DataObject;
    try {
      obj = await client.get<DataObject>(refs[ref.kind], ns, ref.name, { signal });
    } catch (err) {
      if (isNotFound(err)) {
        if (ref.optional) continue;
        throw new ReconcileError(ValuesErrorReason, `could not find ${subject}`);
      }
      throw new ReconcileError(ValuesErrorReason, `could not get ${subject}: ${(err as Error).message}`);
    }
    const key = ref.valuesKey || "values.yaml";
    const text = dataOf(ref.kind, obj, key);
    if (text === undefined) {
      if (ref.optional) continue;
      throw new ReconcileError(ValuesErrorReason, `missing key '${key}' in ${subject}`);
    }
    if (ref.targetPath) {
      try {
        setPath(values, parseTargetPath(ref.targetPath), typedValue(text.trim()));
      } catch (err) {
        throw new ReconcileError(ValuesErrorReason, `unable to merge value from key '${key}' in ${subject} into target path '${ref.targetPath}': ${(err as Error).message}`, { stalled: true });
      }
      continue;
    }
    let doc: unknown;
    try {
      doc = parseYaml(text) ?? {};
    } catch (err) {
      throw new ReconcileError(ValuesErrorReason, `unable to read values from key '${key}' in ${subject}: ${firstLine((err as Error).message)}`);
    }
    if (!isMap(doc)) throw new ReconcileError(ValuesErrorReason, `values from key '${key}' in ${subject} are not a YAML map`);
    values = mergeValues(values, doc);
  }
  if (hr.spec.values) values = mergeValues(values, hr.spec.values);
  return values;
}

function firstLine(s: string): string {
  return s.split("\n")[0]!;
}

/** JSON with map keys sorted, as Go's encoding/json writes maps (without HTML escaping). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x ?? null)).join(",")}]`;
  if (isMap(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

/** "sha256:<hex>" of the canonical JSON: equal to the helper's configDigest for the same values. */
export function valuesDigest(values: Values): string {
  return `sha256:${createHash("sha256").update(canonicalJson(values)).digest("hex")}`;
}
