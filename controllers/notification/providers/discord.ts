// discord: Discord's Slack-compatible webhook endpoint (the webhook address with /slack appended) and the
// Slack payload.
import { postJSON } from "./http";
import { slackPayload } from "./slack";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

export function discordAddress(address: string): string {
  const u = new URL(address);
  if (!u.pathname.endsWith("/slack")) u.pathname = `${u.pathname.replace(/\/$/, "")}/slack`;
  return u.toString();
}

export const discord: ProviderModule = {
  type: "discord",
  async send(n: Notification, p: ProviderConfig) {
    await postJSON(discordAddress(p.address), slackPayload(n, p), p.headers, p.request);
  },
};
