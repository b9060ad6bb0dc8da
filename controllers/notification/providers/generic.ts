// generic: the event JSON as Flux posts it (metadata as providers see it), with the Secret's headers.
// generic-hmac: the same, signed: X-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the token>.
import { createHmac } from "node:crypto";
import { request } from "./http";
import type { Notification, ProviderConfig, ProviderModule } from "./types";

function body(n: Notification): string {
  return JSON.stringify({ ...n.event, metadata: Object.keys(n.metadata).length ? n.metadata : undefined });
}

export const generic: ProviderModule = {
  type: "generic",
  async send(n: Notification, p: ProviderConfig) {
    await request("POST", p.address, body(n), { "content-type": "application/json", ...p.headers }, p.request);
  },
};

export const genericHmac: ProviderModule = {
  type: "generic-hmac",
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the generic-hmac provider needs a 'token' in its secretRef to sign with");
    const text = body(n);
    const signature = createHmac("sha256", p.token).update(text).digest("hex");
    await request("POST", p.address, text, { "content-type": "application/json", ...p.headers, "X-Signature": `sha256=${signature}` }, p.request);
  },
};
