// postBuild variable substitution, as Flux does it (bash-like, after its envsubst library): ${var}, defaults
// (${var:=default}, ${var:-default}, ${var=default}, ${var-default}), substrings (${var:pos}, ${var:pos:len},
// negative positions count from the end), replacement (${var/from/to} first, ${var//from/to} all, ${var/#from/to}
// prefix, ${var/%from/to} suffix), length (${#var}), case (${var^}, ${var^^}, ${var,}, ${var,,}) and pattern
// removal (${var#glob}, ${var##glob}, ${var%glob}, ${var%%glob}). "$${" escapes a literal "${"; arguments may hold
// references themselves. Variables come from substituteFrom (ConfigMaps/Secrets, later ones win) and then
// spec.postBuild.substitute (wins over all). An expression outside this grammar is left as written.

export const varNamePattern = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

export class SubstitutionError extends Error {
  override name = "SubstitutionError";
}

/** Checks variable names the way Flux does; returns the offending names. */
export function invalidVarNames(vars: Record<string, string>): string[] {
  return Object.keys(vars).filter((k) => !varNamePattern.test(k));
}

interface Scope {
  vars: Record<string, string>;
  strict: boolean;
}

/**
 * Substitutes variables in text. In strict mode a variable that is neither set nor has a default is an
 * error naming it; otherwise it counts as "".
 */
export function substitute(text: string, vars: Record<string, string>, strict: boolean): string {
  const scope: Scope = { vars, strict };
  let out = "";
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf("$", i);
    if (at < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, at);
    if (text.startsWith("$${", at)) {
      out += "${";
      i = at + 3;
      continue;
    }
    if (text[at + 1] !== "{") {
      out += "$";
      i = at + 1;
      continue;
    }
    const ref = reference(text, at, scope);
    if (ref) {
      out += ref.value;
      i = ref.end;
      continue;
    }
    // Not a reference we understand (e.g. a shell expression): leave it as written, up to its closing brace.
    const close = closingBrace(text, at + 2);
    if (close < 0) {
      out += text.slice(at);
      break;
    }
    out += text.slice(at, close + 1);
    i = close + 1;
  }
  return out;
}

/** Index of the "}" closing a reference whose body starts at `from`, nested references skipped; -1 if none. */
function closingBrace(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text.startsWith("${", i)) {
      depth++;
      i++;
    } else if (text[i] === "}") {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/**
 * Reads an argument of a reference from `from` up to one of the `stops` (not consumed), substituting the
 * references it holds; "\" escapes the next character when `escapes` is set. Undefined when the text ends first.
 */
function argument(text: string, from: number, stops: string, scope: Scope, escapes = false): { value: string; end: number } | undefined {
  let value = "";
  let i = from;
  while (i < text.length) {
    const c = text[i]!;
    if (stops.includes(c)) return { value, end: i };
    if (escapes && c === "\\" && i + 1 < text.length) {
      value += text[i + 1];
      i += 2;
    } else if (text.startsWith("$${", i)) {
      value += "${";
      i += 3;
    } else if (text.startsWith("${", i)) {
      const inner = reference(text, i, scope);
      if (!inner) return undefined;
      value += inner.value;
      i = inner.end;
    } else {
      value += c;
      i++;
    }
  }
  return undefined;
}

const namePattern = /[_a-zA-Z][_a-zA-Z0-9]*/y;

/** The reference starting at `at` ("${"): its value and the index after its "}", or undefined when not understood. */
function reference(text: string, at: number, scope: Scope): { value: string; end: number } | undefined {
  let i = at + 2;
  const length = text[i] === "#";
  if (length) i++;
  namePattern.lastIndex = i;
  const m = namePattern.exec(text);
  if (!m) return undefined;
  const name = m[0];
  i += name.length;
  if (length) return text[i] === "}" ? { value: String(lookup(name, scope).length), end: i + 1 } : undefined;
  const rest = text.slice(i, i + 3);
  if (rest.startsWith("}")) return { value: lookup(name, scope), end: i + 1 };
  const op = /^(:=|:-|=|-)/.exec(rest)?.[1];
  if (op) {
    const arg = argument(text, i + op.length, "}", scope);
    if (!arg) return undefined;
    const value = scope.vars[name];
    const useValue = value !== undefined && (value !== "" || op === "=" || op === "-");
    return { value: useValue ? value : arg.value, end: arg.end + 1 };
  }
  if (rest.startsWith(":")) return substring(text, i + 1, name, scope);
  if (rest.startsWith("/")) return replacement(text, i + 1, name, scope);
  const casing = /^(\^\^|\^|,,|,)\}/.exec(rest);
  if (casing) return { value: changeCase(lookup(name, scope), casing[1]!), end: i + casing[0].length };
  const trim = /^(##|#|%%|%)/.exec(rest)?.[1];
  if (trim) {
    const arg = argument(text, i + trim.length, "}", scope);
    if (!arg) return undefined;
    return { value: removePattern(lookup(name, scope), trim, arg.value), end: arg.end + 1 };
  }
  return undefined;
}

/** The variable's value; unset is an error in strict mode, else "". */
function lookup(name: string, scope: Scope): string {
  const value = scope.vars[name];
  if (value !== undefined) return value;
  if (scope.strict) throw new SubstitutionError(`variable not set (strict mode): "${name}"`);
  return "";
}

/** ${name:pos} and ${name:pos:len}, from the text after the first ":". */
function substring(text: string, from: number, name: string, scope: Scope): { value: string; end: number } | undefined {
  const pos = argument(text, from, ":}", scope);
  if (!pos) return undefined;
  let len: { value: string; end: number } | undefined;
  if (text[pos.end] === ":") {
    len = argument(text, pos.end + 1, "}", scope);
    if (!len) return undefined;
  }
  const value = lookup(name, scope);
  return { value: substr(value, pos.value, len?.value), end: (len ?? pos).end + 1 };
}

/**
 * Bash's ${v:pos:len}: a negative position counts from the end (clamped to the start); a position past the end
 * gives ""; a length past the end gives the rest. A position or length that is not an integer gives the value.
 */
export function substr(value: string, pos: string, len?: string): string {
  const integer = /^\s*[-+]?\d+\s*$/;
  if (!integer.test(pos)) return value;
  let start = Number.parseInt(pos, 10);
  if (start < 0) start = Math.max(0, value.length + start);
  if (len === undefined) return start < value.length ? value.slice(start) : "";
  if (!integer.test(len)) return value;
  const count = Number.parseInt(len, 10);
  if (start + count >= value.length) return start < value.length ? value.slice(start) : "";
  return value.slice(start, start + count);
}

/** ${name/from/to}, ${name//from/to}, ${name/#from/to}, ${name/%from/to}; "/to" may be left out (removal). */
function replacement(text: string, from: number, name: string, scope: Scope): { value: string; end: number } | undefined {
  let mode: "first" | "all" | "prefix" | "suffix" = "first";
  let i = from;
  if (text[i] === "/") [mode, i] = ["all", i + 1];
  else if (text[i] === "#") [mode, i] = ["prefix", i + 1];
  else if (text[i] === "%") [mode, i] = ["suffix", i + 1];
  const pattern = argument(text, i, "/}", scope, true);
  if (!pattern) return undefined;
  let to = { value: "", end: pattern.end };
  if (text[pattern.end] === "/") {
    const arg = argument(text, pattern.end + 1, "}", scope, true);
    if (!arg) return undefined;
    to = arg;
  }
  return { value: replace(lookup(name, scope), mode, pattern.value, to.value), end: to.end + 1 };
}

function replace(value: string, mode: "first" | "all" | "prefix" | "suffix", from: string, to: string): string {
  switch (mode) {
    case "first":
      return from === "" ? value : value.replace(from, () => to);
    case "all":
      return from === "" ? value : value.split(from).join(to);
    case "prefix":
      return value.startsWith(from) ? to + value.slice(from.length) : value;
    case "suffix":
      return value.endsWith(from) ? value.slice(0, value.length - from.length) + to : value;
  }
}

function changeCase(value: string, op: string): string {
  if (!value) return value;
  const first = String.fromCodePoint(value.codePointAt(0)!);
  switch (op) {
    case "^^":
      return value.toUpperCase();
    case ",,":
      return value.toLowerCase();
    case "^":
      return first.toUpperCase() + value.slice(first.length);
    default:
      return first.toLowerCase() + value.slice(first.length);
  }
}

/** ${v#glob} / ${v##glob} remove the shortest / longest matching prefix; ${v%glob} / ${v%%glob} the suffix. */
function removePattern(value: string, op: string, pattern: string): string {
  const re = globRegExp(pattern);
  if (!re) return value;
  const lengths = Array.from({ length: value.length + 1 }, (_, n) => n);
  const longest = op === "##" || op === "%%";
  if (longest) lengths.reverse();
  for (const n of lengths) {
    if (op.startsWith("#") && re.test(value.slice(0, n))) return value.slice(n);
    if (op.startsWith("%") && re.test(value.slice(value.length - n))) return value.slice(0, value.length - n);
  }
  return value;
}

/** A shell glob (*, ?, [...], \\ escapes) as an anchored regular expression; undefined when malformed. */
export function globRegExp(glob: string): RegExp | undefined {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "\\" && i + 1 < glob.length) re += escapeRegExp(glob[++i]!);
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) return undefined;
      let body = glob.slice(i + 1, close);
      if (body.startsWith("!") || body.startsWith("^")) body = "^" + body.slice(1);
      re += `[${body.replace(/\\(?!-)/g, "\\\\")}]`;
      i = close;
    } else re += escapeRegExp(c);
  }
  try {
    return new RegExp(`^${re}$`);
  } catch {
    return undefined;
  }
}

const escapeRegExp = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/** The variables of one ConfigMap or Secret (Secret data is base64). */
export function varsFromData(kind: "ConfigMap" | "Secret", obj: { data?: Record<string, string>; stringData?: Record<string, string> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj.data ?? {})) out[k] = kind === "Secret" ? Buffer.from(v, "base64").toString("utf8") : v;
  return out;
}
