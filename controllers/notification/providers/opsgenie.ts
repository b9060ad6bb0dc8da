// opsgenie: an alert (POST https://api.opsgenie.com/v2/alerts) with "Authorization: GenieKey <token>": the
// object and reason as message (130 characters at most), the event message as description, the severity and
// metadata as details.
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export const opsgenie: ProviderModule = {
  type: "opsgenie",
  needsAddress: false,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the opsgenie provider needs the API integration 'token' in its secretRef");
    const doc = {
      message: `${objectLine(n)}: ${n.event.reason}`.slice(0, 130),
      description: n.event.message.slice(0, 15_000),
      details: { severity: n.event.severity, ...Object.fromEntries(shownMetadata(n.metadata)) },
    };
    await postJSON(p.address || "https://api.opsgenie.com/v2/alerts", doc, { authorization: `GenieKey ${p.token}`, ...p.headers }, p.request);
  },
};
