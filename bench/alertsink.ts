// The receiving end of the Alert in `bench mttp --systems mooring-alert`: a loopback HTTP server standing in
// for a generic Provider's address, counting the events it is sent (Flux's event JSON, one per POST).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { KubeClient, KubeObject } from "../controllers/runtime/kube";
import type { AlertDelivery } from "./table";
import { AlertKind, ProviderKind } from "../controllers/api/notification";

const succeeded = "ReconciliationSucceeded";

export interface AlertSink {
  url: string;
  /** Resolves once success events of n distinct Kustomizations arrived, or at the timeout. */
  waitForKustomizations(n: number, timeoutMs: number): Promise<void>;
  /** What arrived, with times relative to `since` (performance.now()). */
  delivery(since: number): AlertDelivery;
  close(): Promise<void>;
}

export async function startAlertSink(): Promise<AlertSink> {
  const first = new Map<string, number>();
  let events = 0;
  let malformed = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      events++;
      try {
        const ev = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { involvedObject?: { kind?: string; namespace?: string; name?: string }; reason?: string };
        const o = ev.involvedObject;
        if (o?.kind === "Kustomization" && ev.reason === succeeded) {
          const key = `${o.namespace}/${o.name}`;
          if (!first.has(key)) first.set(key, performance.now());
        }
      } catch {
        malformed++;
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    async waitForKustomizations(n, timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (first.size < n && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    },
    delivery(since) {
      const last = Math.max(...first.values());
      return { kustomizations: first.size, events, malformed, ...(first.size ? { lastSeconds: Math.round(((last - since) / 1000) * 10) / 10 } : {}) };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A generic Provider at the sink and an Alert on every Kustomization of the namespace, at severity info. */
export async function createAlert(client: KubeClient, namespace: string, url: string): Promise<void> {
  const provider = { apiVersion: ProviderKind.apiVersion, kind: ProviderKind.kind, metadata: { name: "bench-sink", namespace }, spec: { type: "generic", address: url } };
  await client.apply(ProviderKind.resource, provider as KubeObject, "mooring-bench");
  const alert = { apiVersion: AlertKind.apiVersion, kind: AlertKind.kind, metadata: { name: "bench-all", namespace }, spec: { providerRef: { name: "bench-sink" }, eventSeverity: "info", eventSources: [{ kind: "Kustomization", name: "*" }] } };
  await client.apply(AlertKind.resource, alert as KubeObject, "mooring-bench");
}
