// Renders MTTP results as a markdown table: rows system × N; columns seconds, ratio to Mooring, ratio to
// the floor, peak RSS, CPU seconds.
import type { HostWindow } from "./procstat";

export type SystemName = "mooring" | "mooring-alert" | "flux" | "flux-tuned" | "floor-gitops" | "floor";
export const systemOrder: SystemName[] = ["mooring", "mooring-alert", "flux", "flux-tuned", "floor-gitops", "floor"];

/** The systems that are a loop in the bench process rather than controllers. */
export const isLoop = (system: SystemName): boolean => system === "floor" || system === "floor-gitops";

export interface ControllerNumbers {
  source?: number;
  kustomize?: number;
  notification?: number;
}

export interface Run {
  system: SystemName;
  n: number;
  /** Seconds from creating the Kustomizations until all are Ready and all 4N objects exist; null when the run timed out. */
  seconds: number | null;
  ready?: number;
  objects?: number;
  peakRssMiB: ControllerNumbers;
  cpuSeconds: ControllerNumbers & {
    apiserver?: number;
    /** The floor's (or floor-gitops') own loop (this process). */
    floor?: number;
    /** This process's trackers during a controller run. */
    bench?: number;
    /** etcd, kube-controller-manager, kube-scheduler, kwok. */
    controlPlane?: Record<string, number | undefined>;
  };
  error?: string;
  /** apiserver requests during the run (watches excluded), by verb and resource. */
  requests?: { total: number; byKind: Record<string, number> };
  /** Watch events the apiserver sent during the run (to every watcher), by resource. */
  watchEvents?: { events: number; megabytes: number; byResource: Record<string, number> };
  /** The whole machine over the window: busy, idle and stolen CPU seconds (a busy host shows as steal). */
  host?: HostWindow;
  /** 1/5/15-minute load averages of the machine before and after the run (others share it). */
  loadavg?: { before: number[]; after: number[] };
  /** mooring-alert: what the Alert's provider received. */
  alert?: AlertDelivery;
}

export interface AlertDelivery {
  /** Kustomizations whose success event ("ReconciliationSucceeded") reached the provider. */
  kustomizations: number;
  /** Events received in all, and how many were malformed. */
  events: number;
  malformed: number;
  /** Seconds from the burst's start until the last Kustomization's success event arrived. */
  lastSeconds?: number;
}

const fmt = (v: number | undefined | null, digits = 1): string => (v === undefined || v === null || !Number.isFinite(v) ? "–" : v.toFixed(digits));

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return "–";
  return `${(a / b).toFixed(2)}×`;
}

function pair(v: ControllerNumbers, digits: number): string {
  if (v.source === undefined && v.kustomize === undefined) return "–";
  return `${fmt(v.source, digits)} / ${fmt(v.kustomize, digits)}`;
}

export function renderTable(runs: readonly Run[]): string {
  const find = (system: SystemName, n: number) => runs.find((r) => r.system === system && r.n === n);
  const ns = [...new Set(runs.map((r) => r.n))].sort((a, b) => a - b);
  const lines = [
    "| system | N | seconds | ÷ Mooring | ÷ floor | peak RSS MiB (source / kustomize) | CPU s (source / kustomize) | apiserver CPU s | requests ÷ N | watch events ÷ N | load 1m before | host steal s | speed probe ms before / after |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const n of ns) {
    for (const system of systemOrder) {
      const r = find(system, n);
      if (!r) continue;
      const progress = r.ready !== undefined ? `; ${r.ready}/${r.n} Ready` : "";
      const seconds = r.seconds === null ? `timed out${r.error ? ` (${r.error}${progress})` : ""}` : fmt(r.seconds);
      const cpu = isLoop(system) ? `${fmt(r.cpuSeconds.floor)} (loop)` : pair(r.cpuSeconds, 1);
      lines.push(
        `| ${system} | ${n} | ${seconds} | ${ratio(r.seconds, find("mooring", n)?.seconds)} | ${ratio(r.seconds, find("floor", n)?.seconds)} | ${pair(r.peakRssMiB, 0)} | ${cpu} | ${fmt(r.cpuSeconds.apiserver)} | ${r.requests ? fmt(r.requests.total / r.n) : "–"} | ${r.watchEvents ? fmt(r.watchEvents.events / r.n) : "–"} | ${fmt(r.loadavg?.before[0])} | ${fmt(r.host?.stealSeconds)} | ${r.host?.calibrationMs ? r.host.calibrationMs.map((v) => fmt(v)).join(" / ") : "–"} |`,
      );
    }
  }
  const alerts = runs.filter((r) => r.alert).sort((a, b) => a.n - b.n);
  if (alerts.length) {
    lines.push("", "mooring-alert: the same as mooring plus notification-controller, every controller posting its events to it, and an Alert on all Kustomizations to a generic Provider (a loopback HTTP server counting what it receives).", "");
    for (const r of alerts) {
      const a = r.alert!;
      lines.push(`- N=${r.n}: success events of ${a.kustomizations} of ${r.n} Kustomizations delivered (${a.events} events in all, ${a.malformed} malformed)${a.lastSeconds !== undefined ? `, the last ${fmt(a.lastSeconds)} s after the burst began` : ""}.`);
    }
  }
  return lines.join("\n") + "\n";
}
