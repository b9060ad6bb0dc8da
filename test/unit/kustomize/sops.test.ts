import { test } from "node:test";
import * as assert from "node:assert/strict";
import { isSopsEncrypted, refuseEncrypted } from "../../../controllers/kustomize/sops";
import { ReconcileError } from "../../../controllers/runtime/errors";
import type { Manifest } from "../../../controllers/kustomize/inventory";

const ciphertext = "ENC[AES256_GCM,data:c2VjcmV0,iv:aXY=,tag:dGFn,type:str]";
const encryptedSecret: Manifest = {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "db", namespace: "apps" },
  stringData: { password: ciphertext },
  sops: { mac: "ENC[AES256_GCM,data:bWFj,type:str]", lastmodified: "2026-01-01T00:00:00Z", version: "3.9.0", encrypted_regex: "^(data|stringData)$" },
};
const configMap: Manifest = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "apps" }, data: { a: "1" } };

test("a v1 Secret with a sops key is encrypted; so is any object whose sops block holds SOPS metadata", () => {
  assert.ok(isSopsEncrypted(encryptedSecret));
  assert.ok(isSopsEncrypted({ ...configMap, sops: { mac: "x" } }));
  assert.ok(isSopsEncrypted({ apiVersion: "example.com/v1", kind: "Thing", metadata: { name: "t" }, sops: { encrypted_regex: "^spec$", age: [] } }));
  assert.ok(isSopsEncrypted({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, sops: null }), "a Secret counts with any sops key, as Flux decides");
});

test("objects without SOPS metadata are not encrypted", () => {
  assert.ok(!isSopsEncrypted(configMap));
  assert.ok(!isSopsEncrypted({ ...configMap, sops: "a field that happens to be called sops" }));
  assert.ok(!isSopsEncrypted({ ...configMap, sops: { enabled: true } }));
  assert.ok(!isSopsEncrypted({ ...configMap, data: { sops: "x" } }), "only the top-level key counts");
});

test("a build with an encrypted object is refused with a message naming it, and what to do", () => {
  assert.doesNotThrow(() => refuseEncrypted([configMap], undefined));
  assert.throws(
    () => refuseEncrypted([configMap, encryptedSecret], undefined),
    (e: Error) =>
      e instanceof ReconcileError &&
      e.reason === "ReconciliationFailed" &&
      !e.stalled &&
      e.message === "Secret/apps/db is SOPS encrypted, configuring decryption is required for this object to be reconciled; nothing of this revision was applied",
  );
});

test("with spec.decryption set, the refusal says decryption is not supported, names all, and leaks no data", () => {
  const other = { ...encryptedSecret, metadata: { name: "api", namespace: "apps" } };
  assert.throws(
    () => refuseEncrypted([encryptedSecret, other], { provider: "sops", secretRef: { name: "sops-age" } }),
    (e: Error) => {
      assert.match(e.message, /^Secret\/apps\/api, Secret\/apps\/db are SOPS encrypted, and decryption with provider 'sops' is not supported by Mooring/);
      assert.ok(!e.message.includes("ENC["), "no ciphertext in the message");
      assert.ok(!e.message.includes("c2VjcmV0"));
      return true;
    },
  );
});
