// webex: a message (POST https://webexapis.com/v1/messages) to the room in spec.channel, the bot's access token
// as a Bearer token; markdown with the object in bold, the message and the metadata as a list.
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export function webexMarkdown(n: Notification): string {
  const lines = [`${n.event.severity === "error" ? "❌" : "✅"} **${objectLine(n)}**`, n.event.message, ...shownMetadata(n.metadata).map(([k, v]) => `* ${k}: ${v}`)];
  return lines.join("\n");
}

export const webex: ProviderModule = {
  type: "webex",
  needsAddress: false,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the webex provider needs the bot's access 'token' in its secretRef");
    if (!p.channel) throw new Error("the webex provider needs the room id in spec.channel");
    await postJSON(p.address || "https://webexapis.com/v1/messages", { roomId: p.channel, markdown: webexMarkdown(n) }, { authorization: `Bearer ${p.token}`, ...p.headers }, p.request);
  },
};
