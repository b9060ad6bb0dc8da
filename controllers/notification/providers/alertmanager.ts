// alertmanager: Prometheus Alertmanager's v2 API (POST /api/v2/alerts) takes a list of alerts. Each event is
// one firing alert: alertname Flux<Kind><Reason>, the severity, reason and object as labels (with the metadata,
// label names made valid), the message and summary as annotations.
import { postJSON } from "./http";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

const labelName = (k: string): string => k.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([0-9])/, "_$1");

export function alertmanagerPayload(n: Notification): unknown[] {
  const o = n.event.involvedObject;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(n.metadata)) if (k !== "summary" && k !== "token" && k !== "commit_status") labels[labelName(k)] = v;
  Object.assign(labels, {
    alertname: `Flux${o.kind}${n.event.reason}`,
    severity: n.event.severity,
    reason: n.event.reason,
    kind: o.kind,
    name: o.name,
    namespace: o.namespace,
  });
  const annotations: Record<string, string> = { message: n.event.message };
  if (n.metadata.summary) annotations.summary = n.metadata.summary;
  return [{ labels, annotations, startsAt: n.event.timestamp, status: "firing" }];
}

export const alertmanager: ProviderModule = {
  type: "alertmanager",
  async send(n: Notification, p: ProviderConfig) {
    const headers = { ...(p.token ? { authorization: `Bearer ${p.token}` } : p.username && p.password ? { authorization: `Basic ${Buffer.from(`${p.username}:${p.password}`).toString("base64")}` } : {}), ...p.headers };
    await postJSON(p.address, alertmanagerPayload(n), headers, p.request);
  },
};
