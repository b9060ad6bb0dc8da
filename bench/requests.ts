// Counts the apiserver's requests over a run from its own metrics (apiserver_request_total), grouped by
// verb and resource, so the cost of a system can be told in requests per Kustomization.
import type { KubeClient } from "../controllers/runtime/kube";

export type RequestCounts = Map<string, number>;

const line = /^apiserver_request_total\{([^}]*)\}\s+([0-9.eE+-]+)$/;
const label = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** "VERB resource[/subresource][ (dry run)]" → count, from the Prometheus text of /metrics. */
export function parseRequestCounts(text: string): RequestCounts {
  const out: RequestCounts = new Map();
  for (const raw of text.split("\n")) {
    const m = line.exec(raw.trim());
    if (!m) continue;
    const l: Record<string, string> = {};
    for (const [, k, v] of m[1]!.matchAll(label)) l[k!] = v!;
    if (l.verb === "WATCH" || l.verb === "CONNECT") continue; // long-running: one per stream, not per change
    const key = `${l.verb} ${l.resource ?? ""}${l.subresource ? `/${l.subresource}` : ""}${l.dry_run ? " (dry run)" : ""}`;
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

export async function readRequestCounts(client: KubeClient): Promise<RequestCounts> {
  return parseRequestCounts(await client.text("GET", "/metrics"));
}

export interface RequestSummary {
  total: number;
  /** The largest groups, most first. */
  byKind: Record<string, number>;
}

/** after − before, largest groups first; groups under 1 % of the total are summed as "other". */
export function requestDelta(before: RequestCounts, after: RequestCounts): RequestSummary {
  const diff: [string, number][] = [];
  for (const [k, v] of after) {
    const d = Math.round(v - (before.get(k) ?? 0));
    if (d > 0) diff.push([k, d]);
  }
  diff.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const total = diff.reduce((s, [, d]) => s + d, 0);
  const byKind: Record<string, number> = {};
  let other = 0;
  for (const [k, d] of diff) {
    if (d >= total / 100) byKind[k] = d;
    else other += d;
  }
  if (other) byKind.other = other;
  return { total, byKind };
}
