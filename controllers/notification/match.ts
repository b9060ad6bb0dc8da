// Which Alerts an event goes to: the event's object is one of the Alert's eventSources (kind, name with '*',
// namespace defaulting to the Alert's, matchLabels with '*'), its severity is at least the Alert's, its
// message passes the inclusion and exclusion lists; suspended Alerts send nothing.
import type { Alert, CrossNamespaceObjectReference } from "../api/notification";
import type { FluxEvent } from "../runtime/fluxevents";

/** The labels of an event's object, looked up when a source has matchLabels (undefined: not found). */
export type LabelLookup = (kind: string, namespace: string, name: string) => Record<string, string> | undefined;

/** '*' matches any run of characters; everything else literally. */
export function nameMatches(pattern: string, name: string): boolean {
  if (!pattern.includes("*")) return pattern === name;
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return re.test(name);
}

export function sourceMatches(src: CrossNamespaceObjectReference, alertNamespace: string, e: FluxEvent, labels: LabelLookup): boolean {
  const o = e.involvedObject;
  if (src.kind !== o.kind) return false;
  if ((src.namespace || alertNamespace) !== o.namespace) return false;
  if (src.apiVersion && o.apiVersion && src.apiVersion !== o.apiVersion) return false;
  if (!nameMatches(src.name, o.name)) return false;
  if (src.name === "*" && src.matchLabels && Object.keys(src.matchLabels).length) {
    const actual = labels(o.kind, o.namespace, o.name);
    if (!actual) return false;
    for (const [k, v] of Object.entries(src.matchLabels)) if (actual[k] !== v) return false;
  }
  return true;
}

/** Compiled inclusion/exclusion lists; an invalid expression is reported, never thrown at dispatch. */
export interface MessageFilter {
  include: RegExp[];
  exclude: RegExp[];
  errors: string[];
}

export function compileFilter(alert: Alert): MessageFilter {
  const errors: string[] = [];
  const compile = (list: string[] | undefined, field: string) =>
    (list ?? []).flatMap((p) => {
      try {
        return [new RegExp(p)];
      } catch (err) {
        errors.push(`spec.${field}: invalid regular expression '${p}': ${(err as Error).message}`);
        return [];
      }
    });
  return { include: compile(alert.spec.inclusionList, "inclusionList"), exclude: compile(alert.spec.exclusionList, "exclusionList"), errors };
}

export type MatchOutcome = { matched: true } | { matched: false; why: string };

export function alertMatches(alert: Alert, e: FluxEvent, labels: LabelLookup, filter = compileFilter(alert), noCrossNamespaceRefs = false): MatchOutcome {
  if (alert.spec.suspend) return { matched: false, why: "alert suspended" };
  if (e.severity === "trace") return { matched: false, why: "trace event" };
  if ((alert.spec.eventSeverity ?? "info") === "error" && e.severity !== "error") return { matched: false, why: "severity below the alert's" };
  const ns = alert.metadata.namespace ?? "default";
  const sources = (alert.spec.eventSources ?? []).filter((src) => !(noCrossNamespaceRefs && src.namespace && src.namespace !== ns));
  if (!sources.some((src) => sourceMatches(src, ns, e, labels))) return { matched: false, why: "no event source matches" };
  if (filter.include.length && !filter.include.some((re) => re.test(e.message))) return { matched: false, why: "message not in the inclusion list" };
  if (filter.exclude.some((re) => re.test(e.message))) return { matched: false, why: "message in the exclusion list" };
  return { matched: true };
}

/**
 * The metadata sent for an alert: the event's (group prefix removed), then the Alert's eventMetadata and
 * summary for keys the event does not have (the event's own values win, as in Flux).
 */
export function alertMetadata(alert: Alert, eventMeta: Record<string, string>): { metadata: Record<string, string>; kept: string[] } {
  const metadata = { ...eventMeta };
  const kept: string[] = [];
  const extra: Record<string, string> = { ...(alert.spec.summary ? { summary: alert.spec.summary } : {}), ...(alert.spec.eventMetadata ?? {}) };
  for (const [k, v] of Object.entries(extra)) {
    if (k in metadata) kept.push(k);
    else metadata[k] = v;
  }
  return { metadata, kept };
}
