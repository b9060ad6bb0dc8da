import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseDuration } from "../../../controllers/source/duration";
import { parseGitUrl } from "../../../controllers/source/gitrepository";
import { redact } from "../../../controllers/source/git";

test("Go durations", () => {
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.throws(() => parseDuration("5"), /invalid duration/);
});

test("URLs beyond the CRD pattern are validated with a stalled URLInvalid error", () => {
  assert.equal(parseGitUrl("ssh://git@example.com:2222/org/repo.git").port, "2222");
  assert.throws(() => parseGitUrl("https://exa mple.com/x"), (e: Error & { reason?: string; stalled?: boolean }) => e.reason === "URLInvalid" && e.stalled === true && /cannot be parsed/.test(e.message));
  assert.throws(() => parseGitUrl("ssh:///repo"), /no host|cannot be parsed/);
});

test("credentials are redacted from git output", () => {
  assert.equal(redact("fatal: unable to access 'https://bob:hunter2@host/x'"), "fatal: unable to access 'https://bob:***@host/x'");
  assert.equal(redact("Authorization: Basic Ym9iOmh1bnRlcjI="), "Authorization: Basic ***");
});
