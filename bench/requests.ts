// Counts the apiserver's requests over a run from its own metrics (apiserver_request_total), grouped by
// verb and resource, so the cost of a system can be told in requests per Kustomization.
import type { KubeClient } from "../controllers/runtime/kube";

export type RequestCounts = Map<string, number>;

const line = /^apiserver_request_total\{(?<labels>[^}]*)\}\s+(?<value>[0-9.eE+-]+)$/;
const label = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** The lines of Prometheus text that `pattern` matches (named groups `labels` and `value`), parsed. */
function* samples(text: string, pattern: RegExp): Generator<{ match: RegExpExecArray; labels: Record<string, string>; value: number }> {
  for (const raw of text.split("\n")) {
    const match = pattern.exec(raw.trim());
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of match.groups!.labels!.matchAll(label)) labels[k!] = v!;
    yield { match, labels, value: Number(match.groups!.value) };
  }
}

/** "VERB resource[/subresource][ (dry run)]" → count, from the Prometheus text of /metrics. */
export function parseRequestCounts(text: string): RequestCounts {
  const out: RequestCounts = new Map();
  for (const { labels: l, value } of samples(text, line)) {
    if (l.verb === "WATCH" || l.verb === "CONNECT") continue; // long-running: one per stream, not per change
    const key = `${l.verb} ${l.resource ?? ""}${l.subresource ? `/${l.subresource}` : ""}${l.dry_run ? " (dry run)" : ""}`;
    out.set(key, (out.get(key) ?? 0) + value);
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

/** The positive after − before of each key, largest first. */
function growth(keys: Iterable<string>, delta: (key: string) => number): [string, number][] {
  const diff: [string, number][] = [];
  for (const k of keys) {
    const d = Math.round(delta(k));
    if (d > 0) diff.push([k, d]);
  }
  return diff.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** The groups as a record with their total; groups under 1 % of the total are summed as "other". */
function largest(diff: [string, number][]): { total: number; groups: Record<string, number> } {
  const total = diff.reduce((s, [, d]) => s + d, 0);
  const groups: Record<string, number> = {};
  let other = 0;
  for (const [k, d] of diff) {
    if (d >= total / 100) groups[k] = d;
    else other += d;
  }
  if (other) groups.other = other;
  return { total, groups };
}

/** after − before, largest groups first; groups under 1 % of the total are summed as "other". */
export function requestDelta(before: RequestCounts, after: RequestCounts): RequestSummary {
  const { total, groups } = largest(growth(after.keys(), (k) => after.get(k)! - (before.get(k) ?? 0)));
  return { total, byKind: groups };
}

export type WatchCounts = Map<string, { events: number; bytes: number }>;

const watchEvents = /^apiserver_watch_events_(total|sizes_sum)\{(?<labels>[^}]*)\}\s+(?<value>[0-9.eE+-]+)$/;

/**
 * Watch events the apiserver sent, and their bytes, by resource (apiserver_watch_events_total and
 * apiserver_watch_events_sizes): every watcher of a kind gets each change, so this is the fan-out that the
 * request counts leave out.
 */
export function parseWatchCounts(text: string): WatchCounts {
  const out: WatchCounts = new Map();
  for (const { match, labels: l, value } of samples(text, watchEvents)) {
    const name = l.resource ?? l.kind ?? "";
    const key = l.group ? `${name}.${l.group}` : name;
    const entry = out.get(key) ?? { events: 0, bytes: 0 };
    if (match[1] === "total") entry.events += value;
    else entry.bytes += value;
    out.set(key, entry);
  }
  return out;
}

/** The request and the watch event counters from one scrape of the apiserver's metrics (one reading, one instant). */
export async function readApiserverCounts(client: KubeClient): Promise<{ requests: RequestCounts; watches: WatchCounts }> {
  const text = await client.text("GET", "/metrics");
  return { requests: parseRequestCounts(text), watches: parseWatchCounts(text) };
}

export interface WatchSummary {
  events: number;
  megabytes: number;
  /** Events by resource, most first; resources under 1 % of the events are summed as "other". */
  byResource: Record<string, number>;
}

/** after − before of the watch events. */
export function watchDelta(before: WatchCounts, after: WatchCounts): WatchSummary {
  const diff = growth(after.keys(), (k) => after.get(k)!.events - (before.get(k)?.events ?? 0));
  const bytes = diff.reduce((s, [k]) => s + after.get(k)!.bytes - (before.get(k)?.bytes ?? 0), 0);
  const { total, groups } = largest(diff);
  return { events: total, megabytes: Math.round(bytes / 1e4) / 100, byResource: groups };
}
