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

export type WatchCounts = Map<string, { events: number; bytes: number }>;

const watchEvents = /^apiserver_watch_events_(total|sizes_sum)\{([^}]*)\}\s+([0-9.eE+-]+)$/;

/**
 * Watch events the apiserver sent, and their bytes, by resource (apiserver_watch_events_total and
 * apiserver_watch_events_sizes): every watcher of a kind gets each change, so this is the fan-out that the
 * request counts leave out.
 */
export function parseWatchCounts(text: string): WatchCounts {
  const out: WatchCounts = new Map();
  for (const raw of text.split("\n")) {
    const m = watchEvents.exec(raw.trim());
    if (!m) continue;
    const l: Record<string, string> = {};
    for (const [, k, v] of m[2]!.matchAll(label)) l[k!] = v!;
    const name = l.resource ?? l.kind ?? "";
    const key = l.group ? `${name}.${l.group}` : name;
    const entry = out.get(key) ?? { events: 0, bytes: 0 };
    if (m[1] === "total") entry.events += Number(m[3]);
    else entry.bytes += Number(m[3]);
    out.set(key, entry);
  }
  return out;
}

export async function readWatchCounts(client: KubeClient): Promise<WatchCounts> {
  return parseWatchCounts(await client.text("GET", "/metrics"));
}

export interface WatchSummary {
  events: number;
  megabytes: number;
  /** Events by resource, most first; resources under 1 % of the events are summed as "other". */
  byResource: Record<string, number>;
}

/** after − before of the watch events. */
export function watchDelta(before: WatchCounts, after: WatchCounts): WatchSummary {
  const diff: [string, number, number][] = [];
  for (const [k, v] of after) {
    const events = Math.round(v.events - (before.get(k)?.events ?? 0));
    const bytes = v.bytes - (before.get(k)?.bytes ?? 0);
    if (events > 0) diff.push([k, events, bytes]);
  }
  diff.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const events = diff.reduce((s, [, e]) => s + e, 0);
  const byResource: Record<string, number> = {};
  let other = 0;
  for (const [k, e] of diff) {
    if (e >= events / 100) byResource[k] = e;
    else other += e;
  }
  if (other) byResource.other = other;
  return { events, megabytes: Math.round(diff.reduce((s, [, , b]) => s + b, 0) / 1e4) / 100, byResource };
}
