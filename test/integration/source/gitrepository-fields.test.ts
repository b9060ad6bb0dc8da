// GitRepository fields beyond URL and ref, on the real control plane with real git servers: commit and tag
// signatures (OpenPGP with Debian's gpg, SSH), sparse checkout, submodules, an SSH key with a passphrase,
// HTTPS client certificates, and proxies (tinyproxy for HTTP and CONNECT, Dante for SOCKS5).
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { execFileSync } from "node:child_process";
import { newNamespace } from "../../harness/cluster";
import { TestRepo } from "../../fixtures/gitserver/repo";
import { startHttpGitServer, type HttpGitServer } from "../../fixtures/gitserver/http";
import { proxyMissing, startHttpProxy, startSocksProxy, type RunningProxy } from "../../fixtures/proxy";
import { handleGitRequest } from "../../../local/githost";
import { cond, createSecret, fetchArtifact, gitCredentials, gitRepository, requestReconcile, startSourceEnv, waitReady, GitRepos, type SourceEnv } from "./env";
import type { GitRepository } from "../../../controllers/api";

function tarNames(bytes: Buffer): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-it-"));
  fs.writeFileSync(path.join(dir, "a.tgz"), bytes);
  return execFileSync("tar", ["-tzf", path.join(dir, "a.tgz")], { encoding: "utf8" }).trim().split("\n").sort();
}

async function artifactNames(o: GitRepository): Promise<string[]> {
  const served = await fetchArtifact(o.status!.artifact!.url);
  assert.equal(served.status, 200);
  return tarNames(served.bytes!);
}

/** A throwaway GnuPG home with signing keys made by gpg itself. */
class Keyring {
  readonly home = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-gpg-"));
  constructor() {
    fs.chmodSync(this.home, 0o700);
  }
  gpg(...args: string[]): string {
    return execFileSync("gpg", ["--batch", "--homedir", this.home, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }
  /** Makes an ed25519 signing key; returns its long key ID. */
  newKey(uid: string): string {
    this.gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never");
    const line = this.gpg("--with-colons", "--list-keys", uid).split("\n").find((l) => l.startsWith("pub:"))!;
    return line.split(":")[4]!;
  }
  exportPublic(keyId: string): string {
    return this.gpg("--armor", "--export", keyId);
  }
}

describe("GitRepository: verify, sparseCheckout, recurseSubmodules, SSH passphrase, mTLS, proxies", () => {
  let env: SourceEnv;
  let signed: TestRepo;
  let signedServer: HttpGitServer;
  let keyring: Keyring;
  let trusted: string;
  let stranger: string;

  before(async () => {
    env = await startSourceEnv();
    env.repo.commit({ "apps/app.yaml": "kind: ConfigMap\n", "infra/db.yaml": "kind: Secret\n", "README.md": "fleet\n" }, "fleet");
    keyring = new Keyring();
    trusted = keyring.newKey("Fleet Signer <signer@mooring.invalid>");
    stranger = keyring.newKey("Stranger <stranger@mooring.invalid>");
    signed = new TestRepo("signed");
    signed.env = { GNUPGHOME: keyring.home };
    signedServer = await startHttpGitServer(signed.root);
  });
  after(async () => {
    await signedServer?.close();
    signed?.cleanup();
    if (keyring) fs.rmSync(keyring.home, { recursive: true, force: true });
    await env?.stop();
  });

  const signWith = (key: string | undefined) => {
    if (key) {
      signed.run("config", "gpg.format", "openpgp");
      signed.run("config", "user.signingkey", key);
    }
    signed.run("config", "commit.gpgsign", key ? "true" : "false");
  };

  test("verify HEAD (OpenPGP): a signed commit is Ready with SourceVerified; unsigned, foreign-key and tampered commits are refused and nothing new is stored", async (t) => {
    const ns = await newNamespace(t);
    signWith(trusted);
    const c1 = signed.commit({ "app.yaml": "kind: ConfigMap\n" }, "signed 1");
    await createSecret(env.admin, ns, "pgp-keys", { "author.asc": keyring.exportPublic(trusted) });
    await env.admin.create(GitRepos, ns, gitRepository(ns, "signed", { url: `${signedServer.url}/signed.git`, interval: "10m", ref: { branch: "main" }, verify: { mode: "HEAD", secretRef: { name: "pgp-keys" } } }));
    const ok = await waitReady(env.admin, ns, "signed", "True");
    assert.equal(ok.status!.artifact!.revision, `main@sha1:${c1}`);
    const verified = cond(ok, "SourceVerified")!;
    assert.equal(verified.status, "True");
    assert.equal(verified.reason, "Succeeded");
    assert.match(verified.message, new RegExp(`commit '${c1}' with key '${trusted}'`));
    assert.equal(ok.status!.sourceVerificationMode, "HEAD");

    const refused = async (what: string, reason: string, detail: RegExp) => {
      await requestReconcile(env.admin, ns, "signed");
      const o = await waitReady(env.admin, ns, "signed", "False", (x) => cond(x, "SourceVerified")?.status === "False" && detail.test(cond(x, "SourceVerified")!.message));
      assert.equal(cond(o, "SourceVerified")!.reason, reason, what);
      assert.equal(cond(o, "Ready")!.reason, reason, what);
      assert.equal(o.status!.artifact!.revision, `main@sha1:${c1}`, `${what}: the verified artifact stays`);
      assert.equal((await fetchArtifact(o.status!.artifact!.url)).digest, ok.status!.artifact!.digest, `${what}: the served artifact is unchanged`);
    };

    signWith(undefined);
    const c2 = signed.commit({ "app.yaml": "kind: ConfigMap\n# unsigned\n" }, "unsigned");
    await refused("unsigned commit", "InvalidCommitSignature", new RegExp(`commit '${c2}' failed: the object is not signed`));

    signWith(stranger);
    signed.commit({ "app.yaml": "kind: ConfigMap\n# stranger\n" }, "foreign key");
    await refused("foreign key", "InvalidCommitSignature", new RegExp(`signed with key '${stranger}', which is not among the trusted public keys`));

    // A commit signed by the trusted key, then altered: same signature, other content.
    signWith(trusted);
    const c4 = signed.commit({ "app.yaml": "kind: ConfigMap\n# genuine\n" }, "genuine");
    const raw = signed.run("cat-file", "commit", c4).replace("genuine", "forged!");
    const forged = execFileSync("git", ["hash-object", "-t", "commit", "-w", "--stdin"], { cwd: signed.bare, input: raw + "\n", encoding: "utf8" }).trim();
    execFileSync("git", ["update-ref", "refs/heads/main", forged], { cwd: signed.bare });
    await refused("tampered commit", "InvalidCommitSignature", /does not match the signed content/);

    // Back to a genuine signed commit: Ready again.
    execFileSync("git", ["update-ref", "refs/heads/main", c4], { cwd: signed.bare });
    await requestReconcile(env.admin, ns, "signed");
    const again = await waitReady(env.admin, ns, "signed", "True", (o) => o.status?.artifact?.revision === `main@sha1:${c4}`);
    assert.equal(cond(again, "SourceVerified")!.status, "True");
  });

  test("verify Tag and TagAndHEAD: a signed tag passes; a lightweight tag and a branch ref are refused with Flux's reasons", async (t) => {
    const ns = await newNamespace(t);
    signWith(trusted);
    const c = signed.commit({ "release.yaml": "v: 1\n" }, "release 1.0.0");
    signed.run("tag", "-s", "-u", trusted, "-m", "v1.0.0", "v1.0.0");
    signed.run("push", "-q", "origin", "v1.0.0");
    signed.run("tag", "v1.0.1");
    signed.run("push", "-q", "origin", "v1.0.1");
    await createSecret(env.admin, ns, "pgp-keys", { "author.asc": keyring.exportPublic(trusted) });
    const url = `${signedServer.url}/signed.git`;
    await env.admin.create(GitRepos, ns, gitRepository(ns, "tagged", { url, interval: "10m", ref: { tag: "v1.0.0" }, verify: { mode: "TagAndHEAD", secretRef: { name: "pgp-keys" } } }));
    const o = await waitReady(env.admin, ns, "tagged", "True");
    assert.equal(o.status!.artifact!.revision, `v1.0.0@sha1:${c}`);
    assert.match(cond(o, "SourceVerified")!.message, /tag 'v1\.0\.0' with key/);
    assert.match(cond(o, "SourceVerified")!.message, new RegExp(`commit '${c}' with key '${trusted}'`));
    assert.equal(o.status!.sourceVerificationMode, "TagAndHEAD");

    await env.admin.create(GitRepos, ns, gitRepository(ns, "light", { url, interval: "10m", ref: { tag: "v1.0.1" }, verify: { mode: "Tag", secretRef: { name: "pgp-keys" } } }));
    const light = await waitReady(env.admin, ns, "light", "False");
    assert.equal(cond(light, "SourceVerified")!.reason, "InvalidGitObject");
    assert.match(cond(light, "SourceVerified")!.message, /tag 'v1\.0\.1' since it is not signed/);
    assert.equal(light.status!.artifact, undefined, "nothing stored");

    await env.admin.create(GitRepos, ns, gitRepository(ns, "branch", { url, interval: "10m", ref: { branch: "main" }, verify: { mode: "Tag", secretRef: { name: "pgp-keys" } } }));
    const branch = await waitReady(env.admin, ns, "branch", "False");
    assert.equal(cond(branch, "SourceVerified")!.reason, "InvalidVerificationMode");
    assert.equal(cond(branch, "Stalled")?.status, "True", "no retry can help: stalled");
  });

  test("verify with SSH signatures (*.sshpub): the SHA256 fingerprint is reported; a missing keys Secret is a VerificationError", async (t) => {
    const ns = await newNamespace(t);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-sshsign-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "signer")]);
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", path.join(dir, "signer.pub")], { encoding: "utf8" }).split(" ")[1]!;
    signed.run("config", "gpg.format", "ssh");
    signed.run("config", "user.signingkey", path.join(dir, "signer.pub"));
    signed.run("config", "commit.gpgsign", "true");
    const c = signed.commit({ "ssh.yaml": "signed: ssh\n" }, "ssh signed", "ssh");
    signed.run("config", "gpg.format", "openpgp");
    await createSecret(env.admin, ns, "keys", { "author.sshpub": fs.readFileSync(path.join(dir, "signer.pub"), "utf8") });
    const url = `${signedServer.url}/signed.git`;
    await env.admin.create(GitRepos, ns, gitRepository(ns, "ssh", { url, interval: "10m", ref: { branch: "ssh" }, verify: { mode: "HEAD", secretRef: { name: "keys" } } }));
    const o = await waitReady(env.admin, ns, "ssh", "True");
    // A fingerprint is base64: its '+' and '/' are compared as text, not as a pattern.
    const verified = cond(o, "SourceVerified")!.message;
    assert.ok(verified.includes(`commit '${c}' with key '${fingerprint}'`), verified);
    fs.rmSync(dir, { recursive: true, force: true });

    await env.admin.create(GitRepos, ns, gitRepository(ns, "nokeys", { url, interval: "10m", ref: { branch: "ssh" }, verify: { mode: "HEAD", secretRef: { name: "absent" } } }));
    const bad = await waitReady(env.admin, ns, "nokeys", "False");
    assert.equal(cond(bad, "SourceVerified")!.reason, "VerificationError");
    assert.match(cond(bad, "SourceVerified")!.message, /public keys secret error: failed to get secret '[^']*\/absent': secret not found/);
  });

  test("sparseCheckout keeps only the listed directories; a missing directory is a clear failure", async (t) => {
    const ns = await newNamespace(t);
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await env.admin.create(GitRepos, ns, gitRepository(ns, "sparse", { url: env.httpUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" }, sparseCheckout: ["apps"] }));
    const o = await waitReady(env.admin, ns, "sparse", "True");
    assert.deepEqual(await artifactNames(o), ["apps/", "apps/app.yaml"]);
    assert.deepEqual(o.status!.observedSparseCheckout, ["apps"]);

    await env.admin.patch(GitRepos, ns, "sparse", { spec: { sparseCheckout: ["apps", "infra"] } });
    const both = await waitReady(env.admin, ns, "sparse", "True", (x) => x.status?.observedSparseCheckout?.length === 2);
    assert.deepEqual(await artifactNames(both), ["apps/", "apps/app.yaml", "infra/", "infra/db.yaml"]);

    await env.admin.create(GitRepos, ns, gitRepository(ns, "missing", { url: env.httpUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" }, sparseCheckout: ["nope"] }));
    const bad = await waitReady(env.admin, ns, "missing", "False");
    assert.match(cond(bad, "Ready")!.message, /sparse checkout directory 'nope' does not exist/);
  });

  test("recurseSubmodules brings the submodule's files into the artifact (without its .git); credentials stay with the repository's host", async (t) => {
    const ns = await newNamespace(t);
    const lib = new TestRepo("lib");
    const libServer = await startHttpGitServer(lib.root);
    const app = new TestRepo("app");
    const appServer = await startHttpGitServer(app.root, gitCredentials);
    t.after(async () => {
      await libServer.close();
      await appServer.close();
      lib.cleanup();
      app.cleanup();
    });
    lib.commit({ "lib.yaml": "kind: ConfigMap\n" }, "lib");
    app.commit({ "app.yaml": "kind: ConfigMap\n" }, "app");
    // Added from the bare path (this process also serves the HTTP repositories), then pointed at the server.
    app.run("-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.bare, "vendor/lib");
    app.run("config", "-f", ".gitmodules", "submodule.vendor/lib.url", `${libServer.url}/lib.git`);
    app.commit({}, "add lib as a submodule");
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    const spec = { url: `${appServer.url}/app.git`, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" } };
    await env.admin.create(GitRepos, ns, gitRepository(ns, "with", { ...spec, recurseSubmodules: true }));
    await env.admin.create(GitRepos, ns, gitRepository(ns, "without", spec));
    const withSub = await waitReady(env.admin, ns, "with", "True");
    const withoutSub = await waitReady(env.admin, ns, "without", "True");
    const names = await artifactNames(withSub);
    assert.ok(names.includes("vendor/lib/lib.yaml"), names.join(","));
    assert.ok(!names.some((n) => n.endsWith(".git") || n.includes(".git/") || n === ".gitmodules"), names.join(","));
    assert.equal(withSub.status!.observedRecurseSubmodules, true);
    assert.ok(!(await artifactNames(withoutSub)).includes("vendor/lib/lib.yaml"));
  });

  test("an SSH key with a passphrase (Secret key 'password'); a wrong passphrase is AuthenticationFailed and never shown", async (t) => {
    const ns = await newNamespace(t);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-enckey-"));
    const phrase = "correct horse battery staple";
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", phrase, "-f", path.join(dir, "id")]);
    env.ssh.authorize(fs.readFileSync(path.join(dir, "id.pub"), "utf8"));
    const identity = fs.readFileSync(path.join(dir, "id"), "utf8");
    fs.rmSync(dir, { recursive: true, force: true });
    await createSecret(env.admin, ns, "ssh-enc", { identity, known_hosts: env.ssh.knownHosts, password: phrase });
    await createSecret(env.admin, ns, "ssh-wrong", { identity, known_hosts: env.ssh.knownHosts, password: "wrong-passphrase-xyz" });
    await env.admin.create(GitRepos, ns, gitRepository(ns, "enc", { url: env.sshUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "ssh-enc" } }));
    await env.admin.create(GitRepos, ns, gitRepository(ns, "wrong", { url: env.sshUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "ssh-wrong" } }));
    await waitReady(env.admin, ns, "enc", "True");
    const wrong = await waitReady(env.admin, ns, "wrong", "False");
    assert.equal(cond(wrong, "Ready")!.reason, "AuthenticationFailed");
    assert.ok(!JSON.stringify(wrong.status).includes("wrong-passphrase-xyz"));
    assert.ok(!JSON.stringify(env.logs).includes(phrase) && !JSON.stringify(env.logs).includes("wrong-passphrase-xyz"), "no passphrase in logs");
  });

  test("HTTPS with a client certificate (tls.crt/tls.key): accepted with it, refused without, half a pair is a clear error", async (t) => {
    const ns = await newNamespace(t);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-mtls-"));
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=mooring-test-ca");
    fs.writeFileSync(path.join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    for (const who of ["server", "client"]) {
      ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${who}.key`, "-out", `${who}.csr`, "-subj", `/CN=${who}`);
      ssl("x509", "-req", "-in", `${who}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${who}.crt`, "-days", "1", ...(who === "server" ? ["-extfile", "san.ext"] : []));
    }
    const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
    const server = https.createServer({ key: read("server.key"), cert: read("server.crt"), ca: read("ca.crt"), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      if (!handleGitRequest({ root: env.repo.root }, req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => {
      server.closeAllConnections();
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/fleet.git`;
    await createSecret(env.admin, ns, "mtls", { "ca.crt": read("ca.crt"), "tls.crt": read("client.crt"), "tls.key": read("client.key") });
    await createSecret(env.admin, ns, "ca-only", { "ca.crt": read("ca.crt") });
    await createSecret(env.admin, ns, "half", { "ca.crt": read("ca.crt"), "tls.crt": read("client.crt") });
    await env.admin.create(GitRepos, ns, gitRepository(ns, "mtls", { url, interval: "10m", ref: { branch: "main" }, secretRef: { name: "mtls" } }));
    await env.admin.create(GitRepos, ns, gitRepository(ns, "ca-only", { url, interval: "10m", ref: { branch: "main" }, secretRef: { name: "ca-only" } }));
    await env.admin.create(GitRepos, ns, gitRepository(ns, "half", { url, interval: "10m", ref: { branch: "main" }, secretRef: { name: "half" } }));
    await waitReady(env.admin, ns, "mtls", "True");
    const noCert = await waitReady(env.admin, ns, "ca-only", "False");
    assert.equal(noCert.status!.artifact, undefined);
    const half = await waitReady(env.admin, ns, "half", "False");
    assert.match(cond(half, "Ready")!.message, /'tls\.key' is missing/);
    assert.ok(!cond(half, "Ready")!.message.includes("PRIVATE KEY"));
  });

  test("proxySecretRef: HTTP through tinyproxy with basic auth, SSH through its CONNECT and through Dante's SOCKS5; a wrong proxy password fails without showing it", async (t) => {
    const missing = proxyMissing();
    if (missing) throw new Error(missing);
    const ns = await newNamespace(t);
    const proxyAuth = { username: "proxy-user", password: "proxy-pa55" };
    const http = await startHttpProxy(proxyAuth);
    const socks = await startSocksProxy();
    const proxies: RunningProxy[] = [http, socks];
    t.after(async () => {
      for (const p of proxies) await p.close();
    });
    await createSecret(env.admin, ns, "git-auth", gitCredentials);
    await createSecret(env.admin, ns, "ssh-auth", { identity: env.deployKey.privateKey, known_hosts: env.ssh.knownHosts });
    await createSecret(env.admin, ns, "http-proxy", { address: http.url, ...proxyAuth });
    await createSecret(env.admin, ns, "socks-proxy", { address: socks.url });
    await createSecret(env.admin, ns, "bad-proxy", { address: http.url, username: proxyAuth.username, password: "not-the-password" });
    await env.admin.create(GitRepos, ns, gitRepository(ns, "http", { url: env.httpUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" }, proxySecretRef: { name: "http-proxy" } }));
    await env.admin.create(GitRepos, ns, gitRepository(ns, "ssh-connect", { url: env.sshUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "ssh-auth" }, proxySecretRef: { name: "http-proxy" } }));
    await env.admin.create(GitRepos, ns, gitRepository(ns, "ssh-socks", { url: env.sshUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "ssh-auth" }, proxySecretRef: { name: "socks-proxy" } }));
    await env.admin.create(GitRepos, ns, gitRepository(ns, "bad", { url: env.httpUrl, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git-auth" }, proxySecretRef: { name: "bad-proxy" } }));
    await waitReady(env.admin, ns, "http", "True");
    await waitReady(env.admin, ns, "ssh-connect", "True");
    await waitReady(env.admin, ns, "ssh-socks", "True");
    const gitPort = new URL(env.httpUrl).port;
    assert.match(http.log(), new RegExp(`127\\.0\\.0\\.1:${gitPort}/fleet\\.git`), "the HTTP fetch went through tinyproxy");
    assert.match(http.log(), new RegExp(`CONNECT 127\\.0\\.0\\.1:${env.ssh.port}`), "SSH was tunnelled with CONNECT");
    assert.match(socks.log(), new RegExp(`127\\.0\\.0\\.1\\.${env.ssh.port}`), "SSH went through the SOCKS5 proxy");
    const bad = await waitReady(env.admin, ns, "bad", "False");
    assert.ok(!JSON.stringify(bad.status).includes("not-the-password"));
    assert.ok(!JSON.stringify(env.logs).includes("not-the-password") && !JSON.stringify(env.logs).includes(proxyAuth.password), "no proxy password in logs");
  });
});
