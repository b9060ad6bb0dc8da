// telegram: the Bot API's sendMessage, to the chat in spec.channel, with the bot token from the Secret.
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export const telegram: ProviderModule = {
  type: "telegram",
  needsAddress: false,
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the telegram provider needs the bot 'token' in its secretRef");
    if (!p.channel) throw new Error("the telegram provider needs the chat id in spec.channel");
    const base = (p.address || "https://api.telegram.org").replace(/\/$/, "");
    const lines = [`${n.event.severity === "error" ? "🚨" : "💫"} ${objectLine(n)}`, n.event.message, ...shownMetadata(n.metadata).map(([k, v]) => `${k}: ${v}`)];
    await postJSON(`${base}/bot${p.token}/sendMessage`, { chat_id: p.channel, text: lines.join("\n") }, p.headers, p.request);
  },
};
