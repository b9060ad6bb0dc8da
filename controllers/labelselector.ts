// Kubernetes label selector strings (`a=b,c!=d,!e,f in (x,y)`), checked and parsed so a bad
// `--watch-label-selector` fails at start-up with the requirement it could not read.

export type SelectorOperator = "=" | "!=" | "in" | "notin" | "exists" | "!";

export interface SelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

// A label key: an optional DNS-subdomain prefix and a name of at most 63 characters.
const namePart = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const prefixPart = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const valuePart = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function checkKey(key: string, whole: string): string {
  const slash = key.indexOf("/");
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  const prefixOk = prefix === undefined || (prefix.length <= 253 && prefixPart.test(prefix));
  if (!prefixOk || !namePart.test(name)) {
    throw new Error(`label selector "${whole}": "${key}" is not a valid label key (an optional DNS prefix and "/", then up to 63 letters, digits, '-', '_' or '.')`);
  }
  return key;
}

function checkValue(value: string, whole: string): string {
  if (!valuePart.test(value)) throw new Error(`label selector "${whole}": "${value}" is not a valid label value (up to 63 letters, digits, '-', '_' or '.')`);
  return value;
}

/** Splits at commas that are not inside a `( … )` value set. */
function splitRequirements(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim());
}

/** Parses a selector; the empty string selects everything (no requirements). */
export function parseLabelSelector(text: string): SelectorRequirement[] {
  if (text.trim() === "") return [];
  return splitRequirements(text).map((req) => {
    if (req === "") throw new Error(`label selector "${text}": empty requirement (a stray comma?)`);
    const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(req);
    if (set) {
      const values = set[3]!.split(",").map((v) => checkValue(v.trim(), text));
      return { key: checkKey(set[1]!, text), operator: set[2] as "in" | "notin", values };
    }
    const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(req);
    if (cmp) return { key: checkKey(cmp[1]!, text), operator: cmp[2] === "!=" ? "!=" : "=", values: [checkValue(cmp[3]!, text)] };
    const absent = /^!\s*(\S+)$/.exec(req);
    if (absent) return { key: checkKey(absent[1]!, text), operator: "!", values: [] };
    if (/^\S+$/.test(req)) return { key: checkKey(req, text), operator: "exists", values: [] };
    throw new Error(`label selector "${text}": cannot read "${req}" (use key, !key, key=value, key!=value, key in (a,b) or key notin (a,b))`);
  });
}

/** Whether a set of labels satisfies every requirement. */
export function selectorMatches(requirements: readonly SelectorRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.operator) {
      case "exists":
        return has;
      case "!":
        return !has;
      case "=":
      case "in":
        return has && r.values.includes(v!);
      case "!=":
      case "notin":
        return !has || !r.values.includes(v!);
    }
  });
}
