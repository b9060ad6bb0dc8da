// slack: an incoming-webhook or chat.postMessage payload with one attachment per event: green for info, red
// for errors, the object as author, the message as text and the metadata as fields. A token is sent as a
// Bearer token (chat.postMessage); channel and username when set.
import { postJSON } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export interface SlackPayload {
  channel?: string;
  username?: string;
  text?: string;
  attachments: { color: "good" | "danger"; author_name: string; text: string; mrkdwn_in: string[]; fields?: { title: string; value: string; short: boolean }[] }[];
}

export function slackPayload(n: Notification, p: ProviderConfig): SlackPayload {
  const fields = shownMetadata(n.metadata).map(([title, value]) => ({ title, value, short: false }));
  return {
    ...(p.channel ? { channel: p.channel } : {}),
    ...(p.username ? { username: p.username } : {}),
    attachments: [
      {
        color: n.event.severity === "error" ? "danger" : "good",
        author_name: objectLine(n),
        text: n.event.message,
        mrkdwn_in: ["text"],
        ...(fields.length ? { fields } : {}),
      },
    ],
  };
}

export const slack: ProviderModule = {
  type: "slack",
  async send(n: Notification, p: ProviderConfig) {
    await postJSON(p.address, slackPayload(n, p), { ...(p.token ? { authorization: `Bearer ${p.token}` } : {}), ...p.headers }, p.request);
  },
};
