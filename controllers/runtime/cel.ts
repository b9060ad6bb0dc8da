// CEL (Common Expression Language) as the controllers use it, by @marcbachmann/cel-js: one cache of parsed and
// type-checked expressions, evaluation with a typed result, and Kubernetes objects handed over with whole
// numbers as CEL ints. Each controller declares its own environments (variables, functions).
import type { Environment, ParseResult } from "@marcbachmann/cel-js";

/** An expression that does not parse, does not type-check, or fails to evaluate; the message names it. */
export class CelError extends Error {
  override name = "CelError";
  constructor(
    message: string,
    /** True when the expression itself is wrong (retrying cannot help); false when it failed on this data. */
    readonly invalid = true,
  ) {
    super(message);
  }
}

export type CelResultType = "bool" | "string";

const compiled = new Map<string, ParseResult>();
const maxCompiled = 1000;

const firstLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split("\n")[0]!.trim();
const prefixed = (what: string | undefined, message: string) => (what ? `${what}: ${message}` : message);

/**
 * Parses and type-checks an expression once (parsed expressions are kept, per environment name); it must give
 * `want` (or dyn, decided when evaluated). `what` names the field in messages.
 */
export function compileCel(env: Environment, envName: string, expr: string, want: CelResultType, what?: string): ParseResult {
  const key = `${envName}\u0000${expr}`;
  const hit = compiled.get(key);
  if (hit) return hit;
  let parsed: ParseResult;
  try {
    parsed = env.parse(expr);
  } catch (err) {
    throw new CelError(prefixed(what, `failed to parse the CEL expression '${expr}': ${firstLine(err)}`));
  }
  const check = parsed.check();
  if (!check.valid) throw new CelError(prefixed(what, `invalid CEL expression '${expr}': ${firstLine(check.error)}`));
  if (check.type !== want && check.type !== "dyn") throw new CelError(prefixed(what, `the CEL expression '${expr}' must give a ${want}, it gives ${check.type}`));
  if (compiled.size >= maxCompiled) compiled.clear();
  compiled.set(key, parsed);
  return parsed;
}

/**
 * Evaluates a compiled expression; a failure, or a result of another type than `want`, is a CelError. A wrong
 * result type counts as the expression's fault (`invalid`) unless `wrongTypeIsData`.
 */
export function evaluateCel(parsed: ParseResult, expr: string, vars: Record<string, unknown>, want: CelResultType, o: { what?: string; wrongTypeIsData?: boolean } = {}): unknown {
  let result: unknown;
  try {
    result = parsed(vars);
  } catch (err) {
    throw new CelError(prefixed(o.what, `failed to evaluate the CEL expression '${expr}': ${firstLine(err)}`), false);
  }
  const js = want === "bool" ? "boolean" : "string";
  if (typeof result !== js) throw new CelError(prefixed(o.what, `the CEL expression '${expr}' gave ${typeof result === "bigint" ? "an int" : typeof result}, not a ${want}`), !o.wrongTypeIsData);
  return result;
}

/** A JSON value as CEL sees a Kubernetes object: whole numbers become ints (bigint), other numbers stay doubles. */
export function toCel(v: unknown): unknown {
  if (typeof v === "number") return Number.isSafeInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toCel(x);
    return out;
  }
  return v;
}
