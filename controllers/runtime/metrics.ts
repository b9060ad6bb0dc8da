// Prometheus metrics: Flux's gotk_* series plus controller-runtime-style reconcile counters and the
// Node.js process metrics, on one registry served at /metrics.
import * as client from "prom-client";

export class Metrics {
  readonly registry = new client.Registry();
  readonly reconcileDuration: client.Histogram<"kind" | "name" | "namespace">;
  readonly reconcileTotal: client.Counter<"controller" | "result">;
  readonly reconcileErrors: client.Counter<"controller">;
  readonly reconcileTime: client.Histogram<"controller">;
  readonly queueDepth: client.Gauge<"name">;
  readonly activeWorkers: client.Gauge<"controller">;
  readonly suspendStatus: client.Gauge<"kind" | "name" | "namespace">;

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.reconcileDuration = new client.Histogram({
      name: "gotk_reconcile_duration_seconds",
      help: "The duration in seconds of a GitOps Toolkit resource reconciliation.",
      labelNames: ["kind", "name", "namespace"],
      buckets: client.exponentialBuckets(0.01, 2, 12),
      registers,
    });
    this.suspendStatus = new client.Gauge({
      name: "gotk_suspend_status",
      help: "The current suspend status of a GitOps Toolkit resource.",
      labelNames: ["kind", "name", "namespace"],
      registers,
    });
    this.reconcileTotal = new client.Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new client.Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileTime = new client.Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets: client.exponentialBuckets(0.005, 2, 14),
      registers,
    });
    this.queueDepth = new client.Gauge({ name: "workqueue_depth", help: "Current depth of workqueue", labelNames: ["name"], registers });
    this.activeWorkers = new client.Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller",
      labelNames: ["controller"],
      registers,
    });
  }
}
