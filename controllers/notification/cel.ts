// CEL in the notification-controller, as Flux uses it: a Receiver's spec.resourceFilter (a bool over `res`, the
// resource's apiVersion, kind and metadata, and `req`, the webhook's JSON body) selects which of the matched
// resources are annotated; a Provider's spec.commitStatusExpr (a string over `event`, `alert` and `provider`)
// makes the commit-status id. Variables are declared, so a misspelt one is an error before anything is evaluated.
// Lists get first() and last() (optionals), which Flux's CEL offers and expressions in its docs use.
import { Environment, Optional, type ParseResult } from "@marcbachmann/cel-js";
import { CelError, compileCel, evaluateCel, toCel } from "../runtime/cel";

export { CelError } from "../runtime/cel";

function withListHelpers(env: Environment): Environment {
  return env
    .registerFunction({ name: "first", receiverType: "list", returnType: "optional<dyn>", handler: (l: unknown[]) => (l.length ? Optional.of(l[0]) : Optional.none()), params: [] })
    .registerFunction({ name: "last", receiverType: "list", returnType: "optional<dyn>", handler: (l: unknown[]) => (l.length ? Optional.of(l[l.length - 1]) : Optional.none()), params: [] });
}

const filterEnv = withListHelpers(new Environment({ enableOptionalTypes: true }).registerVariable("res", "map").registerVariable("req", "map"));
const commitStatusEnv = withListHelpers(new Environment({ enableOptionalTypes: true }).registerVariable("event", "map").registerVariable("alert", "map").registerVariable("provider", "map"));

const compile = (env: Environment, envName: string, expr: string, want: "bool" | "string"): ParseResult => compileCel(env, envName, expr, want);
const evaluate = (parsed: ParseResult, expr: string, vars: Record<string, unknown>, want: "boolean" | "string"): unknown =>
  evaluateCel(parsed, expr, vars, want === "boolean" ? "bool" : "string", { wrongTypeIsData: true });

/** Checks a resourceFilter without evaluating it; throws a CelError naming the problem. */
export function checkResourceFilter(expr: string): void {
  compile(filterEnv, "filter", expr, "bool");
}

/** The object as `res` sees it: apiVersion, kind and metadata. */
export interface FilteredResource {
  apiVersion?: string;
  kind?: string;
  metadata: Record<string, unknown>;
}

/** Evaluates a resourceFilter for one resource and the webhook's body. */
export function resourceFilterMatches(expr: string, res: FilteredResource, req: Record<string, unknown>): boolean {
  const parsed = compile(filterEnv, "filter", expr, "bool");
  return evaluate(parsed, expr, { res: toCel({ apiVersion: res.apiVersion, kind: res.kind, metadata: res.metadata }), req: toCel(req) }, "boolean") as boolean;
}

/** Checks a commitStatusExpr without evaluating it; throws a CelError naming the problem. */
export function checkCommitStatusExpr(expr: string): void {
  compile(commitStatusEnv, "commitStatus", expr, "string");
}

/** The commit-status id a commitStatusExpr makes of the event, its Alert and its Provider. */
export function commitStatusFromExpr(expr: string, vars: { event: unknown; alert: unknown; provider: unknown }): string {
  const parsed = compile(commitStatusEnv, "commitStatus", expr, "string");
  const id = evaluate(parsed, expr, { event: toCel(vars.event), alert: toCel(vars.alert ?? {}), provider: toCel(vars.provider) }, "string") as string;
  if (!id) throw new CelError(`the CEL expression '${expr}' gave an empty commit status id`, false);
  return id;
}
