// The gcr and cdevents Receiver types. gcr: Pub/Sub push calls carry a Google-signed ID token; a loopback server
// answers as Google's certs endpoint does (a JWKS with an RS256 key generated here), and only a token signed by
// that key, for the Secret's audience and email, issued by accounts.google.com and not expired, triggers.
// cdevents: a CDEvent over the CloudEvents HTTP binding (binary and structured mode), spec.events filtering types.
import { test, after } from "node:test";
import * as assert from "node:assert/strict";
import * as http from "node:http";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { verifyWebhook, type Verdict, type Webhook } from "../../../controllers/notification/webhooks";
import { GoogleIdTokens } from "../../../controllers/notification/googleid";

const google = generateKeyPairSync("rsa", { modulusLength: 2048 });
const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 });
const kid = "7d680d8c70d44e947133cbd499ebc1a61c3d5abc";

let certsFetched = 0;
const certs = http.createServer((_req, res) => {
  certsFetched++;
  const jwk = google.publicKey.export({ format: "jwk" });
  res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=19800" }).end(JSON.stringify({ keys: [{ ...jwk, kid, alg: "RS256", use: "sig" }] }));
});
const certsUrl = new Promise<string>((resolve) => certs.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(certs.address() as { port: number }).port}/oauth2/v3/certs`)));
after(() => certs.close());

const email = "gar-push@acme.iam.gserviceaccount.com";
const audience = "https://flux.example.com/hook/abc";
const now = () => Math.floor(Date.now() / 1000);

function jwt(claims: Record<string, unknown>, key: KeyObject = google.privateKey, header: Record<string, unknown> = { alg: "RS256", kid, typ: "JWT" }): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const data = `${enc(header)}.${enc(claims)}`;
  return `${data}.${sign("RSA-SHA256", Buffer.from(data), key).toString("base64url")}`;
}
const goodClaims = () => ({ aud: audience, azp: "113774264463038321964", email, email_verified: true, iss: "https://accounts.google.com", sub: "113774264463038321964", iat: now(), exp: now() + 3600 });
const push = Buffer.from(
  JSON.stringify({
    message: { data: Buffer.from(JSON.stringify({ action: "INSERT", digest: "us-east1-docker.pkg.dev/p/r/app@sha256:" + "a".repeat(64), tag: "us-east1-docker.pkg.dev/p/r/app:1.1" })).toString("base64"), messageId: "1", publishTime: "2026-01-01T00:00:00Z" },
    subscription: "projects/p/subscriptions/flux",
  }),
);

async function gcr(authorization: string | undefined, body = push, secret: Record<string, string> = { token: "t", email, audience }): Promise<Verdict> {
  const tokens = new GoogleIdTokens({ certsUrl: await certsUrl });
  return verifyWebhook("gcr", { headers: authorization ? { authorization } : {}, body }, "t", [], { secret, google: tokens });
}
const refusedWith = (v: Verdict, status: number, why: RegExp) => {
  assert.equal(v.trigger, false);
  assert.equal((v as { status: number }).status, status);
  assert.match((v as { message: string }).message, why);
};

test("gcr: a Google-signed ID token for the Secret's audience and email triggers", async () => {
  const before = certsFetched;
  assert.deepEqual(await gcr(`Bearer ${jwt(goodClaims())}`), { trigger: true });
  assert.deepEqual(await gcr(`Bearer ${jwt({ ...goodClaims(), iss: "accounts.google.com" })}`), { trigger: true }, "both issuer spellings");
  assert.ok(certsFetched > before, "the keys came from the configured certs URL");
});

test("gcr: a missing, foreign-signed, expired or mismatched token triggers nothing", async () => {
  refusedWith(await gcr(undefined), 401, /missing 'Authorization: Bearer/);
  refusedWith(await gcr("Bearer not-a-jwt"), 401, /not a JWT/);
  refusedWith(await gcr(`Bearer ${jwt(goodClaims(), stranger.privateKey)}`), 401, /signature is not Google's/);
  refusedWith(await gcr(`Bearer ${jwt(goodClaims(), google.privateKey, { alg: "RS256", kid: "unknown" })}`), 401, /key id 'unknown'/);
  refusedWith(await gcr(`Bearer ${jwt(goodClaims(), google.privateKey, { alg: "none", kid })}`), 401, /not RS256/);
  refusedWith(await gcr(`Bearer ${jwt({ ...goodClaims(), exp: now() - 3600 })}`), 401, /expired/);
  refusedWith(await gcr(`Bearer ${jwt({ ...goodClaims(), aud: "https://other.example.com" })}`), 401, /audience/);
  refusedWith(await gcr(`Bearer ${jwt({ ...goodClaims(), iss: "https://evil.example.com" })}`), 401, /issuer/);
  refusedWith(await gcr(`Bearer ${jwt({ ...goodClaims(), email: "someone@else.iam.gserviceaccount.com" })}`), 401, /email/);
  refusedWith(await gcr(`Bearer ${jwt({ ...goodClaims(), email_verified: false })}`), 401, /not verified/);
  // A valid signature over tampered claims.
  const [h, , s] = jwt(goodClaims()).split(".");
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...goodClaims(), email: "x@y" })).toString("base64url")}.${s}`;
  refusedWith(await gcr(`Bearer ${forged}`), 401, /signature/);
});

test("gcr: the Secret needs email and audience; the body must be a Pub/Sub push of a registry notification", async () => {
  refusedWith(await gcr(`Bearer ${jwt(goodClaims())}`, push, { token: "t", email }), 400, /'email'.*'audience'/);
  refusedWith(await gcr(`Bearer ${jwt(goodClaims())}`, Buffer.from("{}")), 400, /Pub\/Sub push/);
  refusedWith(await gcr(`Bearer ${jwt(goodClaims())}`, Buffer.from(JSON.stringify({ message: { data: Buffer.from("[]").toString("base64") } }))), 400, /registry notification/);
});

const cdevent = (type = "dev.cdevents.change.merged.0.2.0") => ({
  context: { specversion: "0.4.1", id: "271069a8-fc18-44f1-b38f-9d70a1695819", source: "https://git.example.com/acme/fleet", type, timestamp: "2026-01-01T00:00:00Z" },
  subject: { id: "fleet/pull/42", source: "https://git.example.com/acme/fleet", content: { repository: { id: "acme/fleet" } } },
});
const binary = (doc: unknown, type = "dev.cdevents.change.merged.0.2.0", more: Record<string, string> = {}) => ({
  headers: { "content-type": "application/json", "ce-specversion": "1.0", "ce-id": "271069a8-fc18-44f1-b38f-9d70a1695819", "ce-source": "https://git.example.com/acme/fleet", "ce-type": type, ...more },
  body: Buffer.from(JSON.stringify(doc)),
});

test("cdevents: a CDEvent in binary or structured mode triggers; spec.events names types with or without version", async () => {
  assert.deepEqual(await verifyWebhook("cdevents", binary(cdevent()), "t", []), { trigger: true });
  assert.deepEqual(await verifyWebhook("cdevents", binary(cdevent()), "t", ["dev.cdevents.change.merged"]), { trigger: true });
  assert.deepEqual(await verifyWebhook("cdevents", binary(cdevent()), "t", ["dev.cdevents.change.merged.0.2.0"]), { trigger: true });
  const structured = { specversion: "1.0", id: "1", source: "/ci", type: "dev.cdevents.change.merged.0.2.0", datacontenttype: "application/json", data: cdevent() };
  assert.deepEqual(await verifyWebhook("cdevents", { headers: { "content-type": "application/cloudevents+json; charset=utf-8" }, body: Buffer.from(JSON.stringify(structured)) }, "t", []), { trigger: true });
});

test("cdevents: other event types, non-CDEvents and incomplete CDEvents trigger nothing", async () => {
  const refused = async (w: Webhook, events: string[], why: RegExp) => refusedWith(await verifyWebhook("cdevents", w, "t", events), 400, why);
  await refused(binary(cdevent("dev.cdevents.change.created.0.2.0"), "dev.cdevents.change.created.0.2.0"), ["dev.cdevents.change.merged"], /not in spec.events/);
  await refused(binary(cdevent(), "dev.cdevents.change.merged.0.2.0", { "ce-specversion": "0.3" }), [], /specversion must be 1.0/);
  await refused({ ...binary(cdevent()), headers: { "content-type": "application/json" } }, [], /specversion/);
  await refused(binary(cdevent("com.example.push"), "com.example.push"), [], /not a CDEvents type/);
  await refused(binary(cdevent(), "dev.cdevents.change.created.0.2.0"), [], /is not the CloudEvent's type/);
  await refused(binary({ context: cdevent().context }), [], /'context' and 'subject'/);
  await refused(binary({ ...cdevent(), context: { ...cdevent().context, timestamp: "yesterday" } }), [], /RFC 3339/);
  await refused(binary({ ...cdevent(), subject: { id: "x" } }), [], /subject.content/);
  await refused({ ...binary(cdevent()), body: Buffer.from("{nope") }, [], /not a JSON object/);
});
