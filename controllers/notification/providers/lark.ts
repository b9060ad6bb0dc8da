// lark: a message card to a custom bot's webhook (the address): a header with the object, green for info and
// red for errors, and one markdown block with the message and the metadata.
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export function larkCard(n: Notification): unknown {
  const content = [n.event.message, ...shownMetadata(n.metadata).map(([k, v]) => `**${k}**: ${v}`)].join("\n");
  return {
    msg_type: "interactive",
    card: {
      config: { wide_screen_mode: true },
      header: { title: { tag: "plain_text", content: `${n.event.severity === "error" ? "💣" : "💫"} ${objectLine(n)}` }, template: n.event.severity === "error" ? "red" : "green" },
      elements: [{ tag: "div", text: { tag: "lark_md", content } }],
    },
  };
}

export const lark: ProviderModule = {
  type: "lark",
  async send(n: Notification, p: ProviderConfig) {
    await postJSON(p.address, larkCard(n), p.headers, p.request);
  },
};
