// datadog: an event (POST {site}/api/v1/events, the API key in DD-API-KEY): the object as title, the message as
// text, alert_type error or info, source fluxcd, and the object, reason and metadata as tags.
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export function datadogEvent(n: Notification): unknown {
  const o = n.event.involvedObject;
  const tags = [
    "flux",
    `flux_reporting_controller:${n.event.reportingController}`,
    `flux_reason:${n.event.reason}`,
    `flux_${o.kind.toLowerCase()}_name:${o.name}`,
    `flux_${o.kind.toLowerCase()}_namespace:${o.namespace}`,
    ...shownMetadata(n.metadata).map(([k, v]) => `${k}:${v}`),
  ];
  return {
    title: objectLine(n),
    text: n.event.message,
    alert_type: n.event.severity === "error" ? "error" : "info",
    source_type_name: "fluxcd",
    date_happened: Math.floor(Date.parse(n.event.timestamp) / 1000),
    aggregation_key: `${o.kind}/${o.namespace}/${o.name}`,
    tags,
  };
}

export const datadog: ProviderModule = {
  type: "datadog",
  needsAddress: false,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the datadog provider needs the API key as 'token' in its secretRef");
    const base = (p.address || "https://api.datadoghq.com").replace(/\/$/, "");
    await postJSON(`${base}/api/v1/events`, datadogEvent(n), { "DD-API-KEY": p.token, ...p.headers }, p.request);
  },
};
