// CEL (Common Expression Language) for Kustomizations, as Flux uses it: spec.healthCheckExprs decide the health
// of custom resources (the object's top-level fields — apiVersion, kind, metadata, spec, status — are the
// variables), and dependsOn[].readyExpr decides whether a dependency is ready (`dep` and `self` are the two
// Kustomizations). Evaluation is by @marcbachmann/cel-js; objects are handed over with whole numbers as CEL ints,
// as Kubernetes' unstructured objects carry them.
import { Environment, type ParseResult } from "@marcbachmann/cel-js";
import type { CustomHealthCheck } from "../api/kustomize";
import type { Health } from "./health";
import { CelError, compileCel, evaluateCel, toCel } from "../runtime/cel";

export { CelError, toCel } from "../runtime/cel";

/** Health expressions: any top-level field of the object may be used, so variables are not declared. */
const healthEnv = new Environment({ unlistedVariablesAreDyn: true, enableOptionalTypes: true });
/** readyExpr: exactly `dep` and `self`, so a misspelt variable is an error before anything is evaluated. */
const readyEnv = new Environment({ enableOptionalTypes: true }).registerVariable("dep", "map").registerVariable("self", "map");

const compile = (env: Environment, envName: string, expr: string, what: string): ParseResult => compileCel(env, envName, expr, "bool", what);
const evaluateBool = (parsed: ParseResult, expr: string, vars: Record<string, unknown>, what: string): boolean => evaluateCel(parsed, expr, vars, "bool", { what }) as boolean;

/** The group of an apiVersion ("" for the core group). */
const groupOf = (apiVersion: string): string => (apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "");

/** The compiled health expressions of one kind. */
export interface HealthExprs {
  group: string;
  kind: string;
  current: ParseResult;
  inProgress?: ParseResult;
  failed?: ParseResult;
  source: CustomHealthCheck;
}

/** spec.healthCheckExprs compiled and looked up by group and kind (the version does not matter, as in Flux). */
export class HealthCheckExprs {
  private readonly byGroupKind = new Map<string, HealthExprs>();

  /** Compiles every entry; an invalid expression or a second entry for the same kind is a CelError naming it. */
  constructor(checks: readonly CustomHealthCheck[]) {
    checks.forEach((c, i) => {
      const at = `healthCheckExprs[${i}]`;
      if (!c.apiVersion) throw new CelError(`${at}: apiVersion is required`);
      if (!c.current) throw new CelError(`${at}: the expression 'current' is required`);
      const group = groupOf(c.apiVersion);
      const kind = c.kind ?? "";
      const key = `${group}/${kind}`;
      if (this.byGroupKind.has(key)) throw new CelError(`${at}: a second health check for ${kind || "all kinds"} in group '${group}'`);
      this.byGroupKind.set(key, {
        group,
        kind,
        source: c,
        current: compile(healthEnv, "health", c.current, `${at}.current`),
        inProgress: c.inProgress ? compile(healthEnv, "health", c.inProgress, `${at}.inProgress`) : undefined,
        failed: c.failed ? compile(healthEnv, "health", c.failed, `${at}.failed`) : undefined,
      });
    });
  }

  get size(): number {
    return this.byGroupKind.size;
  }

  /** The expressions for objects of this apiVersion and kind: an entry for the kind first, else one for its whole group. */
  for(apiVersion: string, kind: string): HealthExprs | undefined {
    const group = groupOf(apiVersion);
    return this.byGroupKind.get(`${group}/${kind}`) ?? this.byGroupKind.get(`${group}/`);
  }
}

/**
 * The health of an object by its expressions, as Flux decides it: a generation not yet observed is InProgress;
 * then inProgress, failed and current are evaluated in that order and the first that is true decides; when none
 * is, the object is InProgress. An expression that fails to evaluate (e.g. a field not there yet) leaves the
 * object InProgress with the error as the message, so the wait goes on until the timeout names it.
 */
export function healthByExprs(exprs: HealthExprs, obj: Record<string, unknown>): Health {
  const md = obj.metadata as { generation?: unknown } | undefined;
  const st = obj.status as { observedGeneration?: unknown } | undefined;
  if (typeof md?.generation === "number" && typeof st?.observedGeneration === "number" && md.generation !== st.observedGeneration) {
    return { status: "InProgress", message: `generation ${md.generation} not yet observed (observed ${st.observedGeneration})` };
  }
  const vars = toCel(obj) as Record<string, unknown>;
  const steps: [ParseResult | undefined, string | undefined, Health["status"]][] = [
    [exprs.inProgress, exprs.source.inProgress, "InProgress"],
    [exprs.failed, exprs.source.failed, "Failed"],
    [exprs.current, exprs.source.current, "Current"],
  ];
  for (const [parsed, expr, status] of steps) {
    if (!parsed || !expr) continue;
    try {
      if (evaluateBool(parsed, expr, vars, status === "Current" ? "current" : status === "Failed" ? "failed" : "inProgress")) {
        return { status, message: `health check expression '${expr}' is true` };
      }
    } catch (err) {
      return { status: "InProgress", message: (err as Error).message };
    }
  }
  return { status: "InProgress", message: "no health check expression is true yet" };
}

/**
 * Evaluates a dependsOn[].readyExpr with the dependency as `dep` and the depending Kustomization as `self`.
 * Throws a CelError when the expression is invalid (retrying cannot help) or fails to evaluate.
 */
export function evalReadyExpr(expr: string, dep: object, self: object): boolean {
  const parsed = compile(readyEnv, "ready", expr, "readyExpr");
  return evaluateBool(parsed, expr, { dep: toCel(dep), self: toCel(self) }, "readyExpr");
}

/** Validates a readyExpr without evaluating it; throws a CelError naming the problem. */
export function checkReadyExpr(expr: string): void {
  compile(readyEnv, "ready", expr, "readyExpr");
}
