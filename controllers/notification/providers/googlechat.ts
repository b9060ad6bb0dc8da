// googlechat: a Google Chat incoming-webhook message with a card: the object as header, the message and the
// metadata as widgets.
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export const googlechat: ProviderModule = {
  type: "googlechat",
  async send(n: Notification, p: ProviderConfig) {
    const widgets = [{ textParagraph: { text: n.event.message } }, ...shownMetadata(n.metadata).map(([k, v]) => ({ decoratedText: { topLabel: k, text: v } }))];
    const doc = {
      text: `${objectLine(n)}: ${n.event.message}`,
      cardsV2: [{ cardId: "flux-event", card: { header: { title: objectLine(n), subtitle: n.event.severity }, sections: [{ widgets }] } }],
    };
    await postJSON(p.address, doc, p.headers, p.request);
  },
};
