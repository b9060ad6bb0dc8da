// pagerduty: Events API v2 (POST /v2/enqueue) with the routing key in spec.channel: an error triggers an
// incident for the object, an info event resolves it (same dedup key).
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export const pagerduty: ProviderModule = {
  type: "pagerduty",
  needsAddress: false,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.channel) throw new Error("the pagerduty provider needs the integration routing key in spec.channel");
    const o = n.event.involvedObject;
    const base = (p.address || "https://events.pagerduty.com").replace(/\/$/, "");
    const doc = {
      routing_key: p.channel,
      event_action: n.event.severity === "error" ? "trigger" : "resolve",
      dedup_key: `${o.kind}/${o.namespace}/${o.name}`,
      payload: {
        summary: `${objectLine(n)}: ${n.event.message}`.slice(0, 1024),
        source: "Flux",
        severity: n.event.severity === "error" ? "error" : "info",
        timestamp: n.event.timestamp,
        custom_details: Object.fromEntries(shownMetadata(n.metadata)),
      },
    };
    await postJSON(`${base}/v2/enqueue`, doc, p.headers, p.request);
  },
};
