// rocket: Rocket.Chat's incoming webhooks take the Slack payload.
import { postJSON } from "./http";
import { slackPayload } from "./slack";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

export const rocket: ProviderModule = {
  type: "rocket",
  async send(n: Notification, p: ProviderConfig) {
    await postJSON(p.address, slackPayload(n, p), p.headers, p.request);
  },
};
