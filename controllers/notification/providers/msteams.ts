// msteams: a message with one Adaptive Card (what Teams workflows' webhooks take): a title line with the
// object, colored by severity, the message, and the metadata as a fact set.
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export function teamsPayload(n: Notification): unknown {
  const facts = shownMetadata(n.metadata).map(([title, value]) => ({ title, value }));
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          body: [
            { type: "TextBlock", text: objectLine(n), weight: "bolder", size: "medium", wrap: true, color: n.event.severity === "error" ? "attention" : "good" },
            { type: "TextBlock", text: n.event.message, wrap: true },
            ...(facts.length ? [{ type: "FactSet", facts }] : []),
          ],
        },
      },
    ],
  };
}

export const msteams: ProviderModule = {
  type: "msteams",
  async send(n: Notification, p: ProviderConfig) {
    await postJSON(p.address, teamsPayload(n), p.headers, p.request);
  },
};
