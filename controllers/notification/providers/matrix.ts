// matrix: an m.room.message text event (PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}) on
// the homeserver at the address, to the room in spec.channel, with the access token as a Bearer token. The
// transaction id is a digest of the event, so a retried send is not posted twice.
import { createHash } from "node:crypto";
import { request } from "./http";
import { objectLine, shownMetadata, type Notification, type ProviderConfig, type ProviderModule } from "./types";

export const matrix: ProviderModule = {
  type: "matrix",
  async send(n: Notification, p: ProviderConfig) {
    if (!p.token) throw new Error("the matrix provider needs the access 'token' in its secretRef");
    if (!p.channel) throw new Error("the matrix provider needs the room id (!room:server) in spec.channel");
    const body = [`${n.event.severity === "error" ? "💣" : "💫"} ${objectLine(n)}`, n.event.message, ...shownMetadata(n.metadata).map(([k, v]) => `${k}: ${v}`)].join("\n");
    const txn = createHash("sha256").update(JSON.stringify([n.event, n.metadata])).digest("hex");
    const base = p.address.replace(/\/$/, "");
    const url = `${base}/_matrix/client/v3/rooms/${encodeURIComponent(p.channel)}/send/m.room.message/${txn}`;
    await request("PUT", url, JSON.stringify({ msgtype: "m.text", body }), { "content-type": "application/json", authorization: `Bearer ${p.token}`, ...p.headers }, p.request);
  },
};
