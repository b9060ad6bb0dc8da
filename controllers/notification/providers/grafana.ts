// grafana: an annotation (POST /api/annotations) tagged with flux, the object and the metadata.
import { postJSON } from "./http";
import { shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export const grafana: ProviderModule = {
  type: "grafana",
  async send(n: Notification, p: ProviderConfig) {
    const o = n.event.involvedObject;
    const tags = ["flux", o.kind, o.name, o.namespace, n.event.severity, ...shownMetadata(n.metadata).map(([k, v]) => `${k}: ${v}`)];
    const auth: Record<string, string> = p.token ? { authorization: `Bearer ${p.token}` } : p.username && p.password ? { authorization: `Basic ${Buffer.from(`${p.username}:${p.password}`).toString("base64")}` } : {};
    await postJSON(p.address, { time: Date.parse(n.event.timestamp), text: `${o.kind}/${o.name}.${o.namespace}: ${n.event.message}`, tags }, { ...auth, ...p.headers }, p.request);
  },
};
