import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fingerprintOfPublicKey, generateDeployKey, publicKeyIdentity } from "../../../bootstrap/ssh/keys";
import { knownHostsName, parseKnownHosts, resolveKnownHosts } from "../../../bootstrap/ssh/knownhosts";
import { isBootstrapError } from "../../../bootstrap/errors";

function withKeyFile<T>(privateKey: string, fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "mooring-ssh-"));
  try {
    const path = join(dir, "id_ed25519");
    writeFileSync(path, privateKey, { mode: 0o600 });
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("generateDeployKey", () => {
  it("writes an OpenSSH private key from which ssh-keygen derives our public key", () => {
    for (let i = 0; i < 5; i++) {
      const key = generateDeployKey("mooring@flux-system");
      assert.match(key.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
      assert.match(key.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=* mooring@flux-system$/);
      const derived = withKeyFile(key.privateKey, (p) => execFileSync("ssh-keygen", ["-y", "-f", p], { encoding: "utf8" }));
      assert.equal(derived.trim(), key.publicKey, "ssh-keygen -y reads the key and keeps the comment");
    }
  });

  it("prints the fingerprint exactly as ssh-keygen -lf does", () => {
    const key = generateDeployKey("deploy");
    const listed = withKeyFile(key.privateKey, (p) => execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", p], { encoding: "utf8" }));
    assert.equal(listed.trim(), `256 ${key.fingerprint} deploy (ED25519)`);
    assert.match(key.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(fingerprintOfPublicKey(key.publicKey), key.fingerprint);
  });

  it("makes a private key that really signs for the public key (ssh-keygen -Y sign / verify)", () => {
    const key = generateDeployKey("signer");
    const dir = mkdtempSync(join(tmpdir(), "mooring-sig-"));
    try {
      const keyPath = join(dir, "id");
      writeFileSync(keyPath, key.privateKey, { mode: 0o600 });
      writeFileSync(join(dir, "msg"), "mooring");
      execFileSync("ssh-keygen", ["-Y", "sign", "-f", keyPath, "-n", "file", join(dir, "msg")], { stdio: "ignore" });
      writeFileSync(join(dir, "allowed"), `signer@mooring ${key.publicKey}\n`);
      const out = execFileSync("ssh-keygen", ["-Y", "verify", "-f", join(dir, "allowed"), "-I", "signer@mooring", "-n", "file", "-s", join(dir, "msg.sig")], {
        input: "mooring",
        encoding: "utf8",
      });
      assert.match(out, /Good "file" signature for signer@mooring/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("generates a different key each time and identifies keys without their comment", () => {
    const a = generateDeployKey("a");
    const b = generateDeployKey("a");
    assert.notEqual(a.publicKey, b.publicKey);
    assert.equal(publicKeyIdentity(`${a.publicKey.split(" ").slice(0, 2).join(" ")} other-comment`), publicKeyIdentity(a.publicKey));
    assert.throws(() => generateDeployKey("two\nlines"), (e) => isBootstrapError(e, "InvalidInput"));
  });
});

describe("known_hosts", () => {
  it("names non-default ports the OpenSSH way", () => {
    assert.equal(knownHostsName("github.com"), "github.com");
    assert.equal(knownHostsName("127.0.0.1", 2222), "[127.0.0.1]:2222");
  });

  it("takes given content after checking its shape", async () => {
    const line = `github.com ${generateDeployKey().publicKey.split(" ").slice(0, 2).join(" ")}`;
    assert.equal(await resolveKnownHosts({ host: "github.com", knownHosts: `# pinned\n${line}\n\n` }), `${line}\n`);
    assert.deepEqual(parseKnownHosts(`@cert-authority *.example ${line.split(" ").slice(1).join(" ")}`).length, 1);
    await assert.rejects(resolveKnownHosts({ host: "h", knownHosts: "not a known hosts line" }), (e) => isBootstrapError(e, "InvalidInput"));
    await assert.rejects(resolveKnownHosts({ host: "h", knownHosts: "# nothing\n" }), (e) => isBootstrapError(e, "InvalidInput"));
  });

  it("reports a scan that finds nothing as KnownHostsFailed", async () => {
    // Port 1 on loopback has no SSH server: the scan must fail with an actionable message.
    await assert.rejects(resolveKnownHosts({ host: "127.0.0.1", port: 1, timeoutSeconds: 2 }), (e) => isBootstrapError(e, "KnownHostsFailed") && /\[127\.0\.0\.1\]:1/.test(e.message));
  });
});
