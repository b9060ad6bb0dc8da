// postBuild variable substitution, as Flux does it: ${var}, ${var:=default} (also ${var:-default},
// ${var=default}, ${var-default}), "$${" escapes a literal "${". Variables come from substituteFrom
// (ConfigMaps/Secrets, later ones win) and then spec.postBuild.substitute (wins over all).

export const varNamePattern = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

export class SubstitutionError extends Error {
  override name = "SubstitutionError";
}

/** Checks variable names the way Flux does; returns the offending names. */
export function invalidVarNames(vars: Record<string, string>): string[] {
  return Object.keys(vars).filter((k) => !varNamePattern.test(k));
}

/**
 * Substitutes variables in text. In strict mode a variable that is neither set nor has a default is an
 * error naming it; otherwise it becomes "".
 */
export function substitute(text: string, vars: Record<string, string>, strict: boolean): string {
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
    const close = text.indexOf("}", at + 2);
    if (close < 0) {
      out += text.slice(at);
      break;
    }
    const expr = text.slice(at + 2, close);
    const m = /^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:=|:-|=|-)([\s\S]*))?$/.exec(expr);
    if (!m) {
      // Not a variable reference we understand (e.g. a shell expression): leave it as written.
      out += text.slice(at, close + 1);
      i = close + 1;
      continue;
    }
    const [, name, op, fallback] = m as unknown as [string, string, string | undefined, string | undefined];
    const value = vars[name];
    if (value !== undefined && (value !== "" || op === "=" || op === "-" || op === undefined)) out += value;
    else if (op !== undefined) out += fallback ?? "";
    else if (strict) throw new SubstitutionError(`variable not set (strict mode): "${name}"`);
    i = close + 1;
  }
  return out;
}

/** The variables of one ConfigMap or Secret (Secret data is base64). */
export function varsFromData(kind: "ConfigMap" | "Secret", obj: { data?: Record<string, string>; stringData?: Record<string, string> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj.data ?? {})) out[k] = kind === "Secret" ? Buffer.from(v, "base64").toString("utf8") : v;
  return out;
}
