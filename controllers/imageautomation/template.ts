// The commit message template: the subset of Go's text/template that commit messages use — {{ .Field.Path }},
// variables ($x, $x.Field), {{ range [$k, $v :=] pipeline }}…{{ else }}…{{ end }}, {{ if pipeline }}…{{ else }}…
// {{ end }}, {{ with pipeline }}, `len`, comments and the {{- -}} trim markers. Maps range in key order, as Go's do.

export class TemplateError extends Error {}

/** A map whose keys are not strings (Go's map[ObjectIdentifier][]Change); ranges in the order of its keys' text. */
export class TemplateMap {
  constructor(
    readonly entries: [unknown, unknown][],
    /** What a missing key gives (Go: the value type's zero value). */
    readonly missing: unknown = undefined,
  ) {}
}

type Node =
  | { t: "text"; s: string }
  | { t: "out"; expr: string }
  | { t: "range"; vars: string[]; expr: string; body: Node[]; alt: Node[] }
  | { t: "if"; expr: string; body: Node[]; alt: Node[]; with: boolean };

interface Token {
  kind: "text" | "action";
  s: string;
}

function lex(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    if (open === -1) {
      out.push({ kind: "text", s: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let inner = open + 2;
    if (src[inner] === "-" && /\s/.test(src[inner + 1] ?? "")) {
      text = text.replace(/\s+$/, "");
      inner += 2;
    }
    const close = src.indexOf("}}", inner);
    if (close === -1) throw new TemplateError(`unclosed action at offset ${open}`);
    let body = src.slice(inner, close);
    let next = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -2);
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    if (text) out.push({ kind: "text", s: text });
    out.push({ kind: "action", s: body.trim() });
    i = next;
  }
  return out;
}

function parse(tokens: Token[]): Node[] {
  let pos = 0;
  const block = (stops: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const tok = tokens[pos++]!;
      if (tok.kind === "text") {
        nodes.push({ t: "text", s: tok.s });
        continue;
      }
      const a = tok.s;
      if (a.startsWith("/*")) continue;
      const word = a.split(/\s+/, 1)[0]!;
      if (stops.includes(word)) return { nodes, stop: word };
      if (word === "range") {
        const rest = a.slice(5).trim();
        const decl = /^(\$\w*)\s*(?:,\s*(\$\w*)\s*)?:=\s*(.+)$/.exec(rest);
        const vars = decl ? [decl[1]!, ...(decl[2] ? [decl[2]] : [])] : [];
        const expr = decl ? decl[3]! : rest;
        const body = block(["else", "end"]);
        const alt = body.stop === "else" ? block(["end"]).nodes : [];
        nodes.push({ t: "range", vars, expr, body: body.nodes, alt });
        continue;
      }
      if (word === "if" || word === "with") {
        const body = block(["else", "end"]);
        const alt = body.stop === "else" ? block(["end"]).nodes : [];
        nodes.push({ t: "if", expr: a.slice(word.length).trim(), body: body.nodes, alt, with: word === "with" });
        continue;
      }
      if (word === "end" || word === "else") throw new TemplateError(`unexpected {{${word}}}`);
      nodes.push({ t: "out", expr: a });
    }
    if (stops.length) throw new TemplateError(`missing {{end}}`);
    return { nodes, stop: "" };
  };
  return block([]).nodes;
}

function field(value: unknown, name: string, expr: string): unknown {
  if (value === null || value === undefined) throw new TemplateError(`${expr}: nil has no field '${name}'`);
  if (value instanceof TemplateMap) {
    const entry = value.entries.find(([k]) => String(k) === name);
    return entry ? entry[1] : value.missing;
  }
  if (typeof value === "object" && name in (value as object)) {
    const v = (value as Record<string, unknown>)[name];
    return typeof v === "function" ? (v as () => unknown).call(value) : v;
  }
  throw new TemplateError(`${expr}: can't evaluate field ${name}`);
}

function evaluate(expr: string, dot: unknown, vars: Map<string, unknown>): unknown {
  const e = expr.trim();
  if (e.startsWith("len ")) {
    const v = evaluate(e.slice(4), dot, vars);
    if (v instanceof TemplateMap) return v.entries.length;
    if (Array.isArray(v) || typeof v === "string") return v.length;
    if (v && typeof v === "object") return Object.keys(v).length;
    throw new TemplateError(`len of ${typeof v}`);
  }
  if (/^".*"$/.test(e)) return JSON.parse(e) as string;
  let value: unknown;
  let path: string;
  if (e.startsWith("$")) {
    const name = /^\$\w*/.exec(e)![0];
    if (!vars.has(name)) throw new TemplateError(`undefined variable ${name}`);
    value = vars.get(name);
    path = e.slice(name.length);
    if (path && !path.startsWith(".")) throw new TemplateError(`unsupported expression '${expr}'`);
    path = path.slice(1);
  } else if (e.startsWith(".")) {
    value = dot;
    path = e.slice(1);
  } else throw new TemplateError(`unsupported expression '${expr}'`);
  if (path && !/^\w+(\.\w+)*$/.test(path)) throw new TemplateError(`unsupported expression '${expr}'`);
  for (const name of path ? path.split(".") : []) value = field(value, name, expr);
  return value;
}

function truthy(v: unknown): boolean {
  if (v instanceof TemplateMap) return v.entries.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === "object") return Object.keys(v).length > 0;
  return Boolean(v);
}

function print(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v instanceof TemplateMap) return `map[${v.entries.map(([k, x]) => `${print(k)}:${print(x)}`).join(" ")}]`;
  if (Array.isArray(v)) return `[${v.map(print).join(" ")}]`;
  const own = (v as { toString?: () => string }).toString;
  if (own && own !== Object.prototype.toString) return own.call(v);
  return `{${Object.values(v as object).map(print).join(" ")}}`;
}

function entries(v: unknown): [unknown, unknown][] {
  if (v instanceof TemplateMap) return [...v.entries].sort(([a], [b]) => (print(a) < print(b) ? -1 : print(a) > print(b) ? 1 : 0));
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v && typeof v === "object") return Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]);
  if (v === undefined || v === null) return [];
  throw new TemplateError(`range can't iterate over ${print(v)}`);
}

function exec(nodes: Node[], dot: unknown, vars: Map<string, unknown>, out: string[]): void {
  for (const n of nodes) {
    if (n.t === "text") out.push(n.s);
    else if (n.t === "out") out.push(print(evaluate(n.expr, dot, vars)));
    else if (n.t === "if") {
      const v = evaluate(n.expr, dot, vars);
      if (truthy(v)) exec(n.body, n.with ? v : dot, vars, out);
      else exec(n.alt, dot, vars, out);
    } else {
      const list = entries(evaluate(n.expr, dot, vars));
      if (!list.length) exec(n.alt, dot, vars, out);
      for (const [k, v] of list) {
        const scope = new Map(vars);
        if (n.vars.length === 1) scope.set(n.vars[0]!, v);
        if (n.vars.length === 2) {
          scope.set(n.vars[0]!, k);
          scope.set(n.vars[1]!, v);
        }
        exec(n.body, v, scope, out);
      }
    }
  }
}

/** Renders a template over data; throws TemplateError with what went wrong. */
export function renderTemplate(template: string, data: unknown): string {
  const nodes = parse(lex(template));
  const out: string[] = [];
  exec(nodes, data, new Map([["$", data]]), out);
  return out.join("");
}
