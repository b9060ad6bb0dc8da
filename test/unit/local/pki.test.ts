import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { apiserverSans, ensurePki, identities, subject } from "../../../local/pki";

describe("pki", () => {
  test("identities become subjects: groups as O, the user as CN", () => {
    assert.equal(subject(identities.admin), "/O=system:masters/CN=mooring-admin");
    assert.equal(subject(identities.controllerManager), "/CN=system:kube-controller-manager");
  });

  test("a subject value that would need escaping is refused", () => {
    assert.throws(() => subject({ cn: "a/b", groups: [] }), /needs escaping/);
  });

  test("the serving certificate covers loopback and the in-cluster names", () => {
    const sans = apiserverSans("10.0.0.1");
    for (const want of ["IP:127.0.0.1", "IP:10.0.0.1", "DNS:localhost", "DNS:kubernetes.default.svc"]) assert.ok(sans.includes(want), want);
  });

  test("ensurePki issues certificates the CA verifies, and keeps them on a second run", async (t) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-pki-"));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const pki = await ensurePki(dir, "10.0.0.1");
    const ca = new X509Certificate(await fs.readFile(pki.ca.cert));
    const admin = new X509Certificate(await fs.readFile(pki.admin.cert));
    const serving = new X509Certificate(await fs.readFile(pki.apiserver.cert));
    assert.ok(admin.verify(ca.publicKey), "admin certificate signed by the CA");
    assert.ok(serving.verify(ca.publicKey), "serving certificate signed by the CA");
    assert.match(admin.subject, /O=system:masters/);
    assert.ok(serving.checkIP("127.0.0.1"), "serving certificate valid for 127.0.0.1");
    assert.equal(serving.checkHost("kubernetes.default.svc"), "kubernetes.default.svc");
    assert.equal(ca.ca, true);
    const again = await ensurePki(dir, "10.0.0.1");
    assert.equal(new X509Certificate(await fs.readFile(again.admin.cert)).fingerprint256, admin.fingerprint256);
  });
});
