// Receiver checks with real signatures: GitHub's X-Hub-Signature-256, GitLab's X-Gitlab-Token, generic-hmac's
// X-Signature, Bitbucket, Harbor, Nexus; registry payload shapes; spec.events; a bad or missing signature is
// refused.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { verifyWebhook } from "../../../controllers/notification/webhooks";

const token = "webhook-token";
const body = Buffer.from(JSON.stringify({ ref: "refs/heads/main", after: "abc" }));
const hmac = (algo: string, data: Buffer = body, key = token) => createHmac(algo, key).update(data).digest("hex");

test("github: a valid X-Hub-Signature-256 for an event in spec.events triggers; ping is answered without a trigger", async () => {
  const headers = { "x-hub-signature-256": `sha256=${hmac("sha256")}`, "x-github-event": "push" };
  assert.deepEqual((await verifyWebhook("github", { headers, body }, token, ["push"])), { trigger: true });
  assert.deepEqual((await verifyWebhook("github", { headers, body }, token, undefined)), { trigger: true });
  assert.deepEqual((await verifyWebhook("github", { headers: { ...headers, "x-github-event": "ping" }, body }, token, ["push"])), { trigger: false, status: 200, message: "pong" });
  assert.equal((await verifyWebhook("github", { headers: { ...headers, "x-github-event": "issues" }, body }, token, ["push"])).trigger, false);
  assert.equal((await verifyWebhook("github", { headers: { "x-hub-signature": `sha1=${hmac("sha1")}`, "x-github-event": "push" }, body }, token, [])).trigger, true, "the older sha1 header");
});

test("github: a missing, wrong-key or tampered signature is refused with 401", async () => {
  const refused = async (headers: Record<string, string>, b = body) => {
    const v = (await verifyWebhook("github", { headers, body: b }, token, []));
    assert.equal(v.trigger, false);
    assert.equal((v as { status: number }).status, 401);
  };
  await refused({ "x-github-event": "push" });
  await refused({ "x-hub-signature-256": `sha256=${hmac("sha256", body, "other")}`, "x-github-event": "push" });
  await refused({ "x-hub-signature-256": `sha256=${hmac("sha256")}`, "x-github-event": "push" }, Buffer.from(body.toString().replace("main", "evil")));
  await refused({ "x-hub-signature-256": `sha1=${hmac("sha1")}`, "x-github-event": "push" });
  await refused({ "x-hub-signature-256": "garbage", "x-github-event": "push" });
});

test("gitlab: X-Gitlab-Token must equal the token; X-Gitlab-Event is checked against spec.events", async () => {
  assert.equal((await verifyWebhook("gitlab", { headers: { "x-gitlab-token": token, "x-gitlab-event": "Push Hook" }, body }, token, ["Push Hook"])).trigger, true);
  assert.equal((await verifyWebhook("gitlab", { headers: { "x-gitlab-token": "wrong", "x-gitlab-event": "Push Hook" }, body }, token, [])).trigger, false);
  assert.equal((await verifyWebhook("gitlab", { headers: { "x-gitlab-event": "Push Hook" }, body }, token, [])).trigger, false);
  assert.equal((await verifyWebhook("gitlab", { headers: { "x-gitlab-token": token, "x-gitlab-event": "Tag Push Hook" }, body }, token, ["Push Hook"])).trigger, false);
});

test("generic-hmac: X-Signature with sha1, sha256 or sha512 over the body", async () => {
  for (const algo of ["sha1", "sha256", "sha512"]) assert.equal((await verifyWebhook("generic-hmac", { headers: { "x-signature": `${algo}=${hmac(algo)}` }, body }, token, [])).trigger, true, algo);
  assert.equal((await verifyWebhook("generic-hmac", { headers: { "x-signature": `md5=${hmac("md5")}` }, body }, token, [])).trigger, false);
  assert.equal((await verifyWebhook("generic-hmac", { headers: {}, body }, token, [])).trigger, false);
  assert.equal((await verifyWebhook("generic", { headers: {}, body }, token, [])).trigger, true, "generic trusts the secret path alone");
});

test("bitbucket, harbor and nexus check their own headers", async () => {
  assert.equal((await verifyWebhook("bitbucket", { headers: { "x-hub-signature": `sha256=${hmac("sha256")}`, "x-event-key": "repo:refs_changed" }, body }, token, [])).trigger, true);
  assert.equal((await verifyWebhook("bitbucket", { headers: { "x-hub-signature": "sha256=00", "x-event-key": "repo:refs_changed" }, body }, token, [])).trigger, false);
  assert.equal((await verifyWebhook("harbor", { headers: { authorization: token }, body }, token, [])).trigger, true);
  assert.equal((await verifyWebhook("harbor", { headers: { authorization: "nope" }, body }, token, [])).trigger, false);
  assert.equal((await verifyWebhook("nexus", { headers: { "x-nexus-webhook-signature": hmac("sha1") }, body }, token, [])).trigger, true);
  assert.equal((await verifyWebhook("nexus", { headers: {}, body }, token, [])).trigger, false);
});

test("registry types need their payload shape; malformed bodies are refused, never thrown", async () => {
  const j = (doc: unknown) => Buffer.from(JSON.stringify(doc));
  assert.equal((await verifyWebhook("dockerhub", { headers: {}, body: j({ push_data: { tag: "1.0" }, repository: { repo_name: "acme/app" } }) }, token, [])).trigger, true);
  assert.equal((await verifyWebhook("quay", { headers: {}, body: j({ docker_url: "quay.io/acme/app", updated_tags: ["1.0"] }) }, token, [])).trigger, true);
  assert.equal((await verifyWebhook("acr", { headers: {}, body: j({ action: "push", target: { repository: "app" } }) }, token, [])).trigger, true);
  for (const type of ["dockerhub", "quay", "acr"] as const) {
    for (const bad of [Buffer.from("{not json"), Buffer.from("[]"), j({}), Buffer.alloc(0)]) assert.equal((await verifyWebhook(type, { headers: {}, body: bad }, token, [])).trigger, false, type);
  }
  assert.equal((await verifyWebhook("gcr", { headers: {}, body }, token, [])).trigger, false, "gcr without email and audience in its Secret");
});
