// Signature verification of a checked-out commit and its tag (GitRepository .spec.verify): OpenPGP signatures
// checked by git with Debian's gpg against a keyring holding only the Secret's public keys, SSH signatures
// against an allowed-signers file holding only the Secret's SSH keys. Nothing from the controller's own
// environment (no user keyring, no trust database) takes part.
import * as fs from "node:fs";
import * as path from "node:path";
import { spawn } from "node:child_process";
import type { GitSession } from "./git";

export type VerifyMode = "HEAD" | "Tag" | "TagAndHEAD";

/** The public keys of a verification Secret: `*.sshpub` are SSH keys, everything else OpenPGP keyrings. */
export interface TrustedKeys {
  pgp: string[];
  ssh: string[];
}

export class VerificationError extends Error {
  constructor(
    /** Flux's reason: InvalidCommitSignature, InvalidTagSignature, InvalidGitObject, InvalidVerificationMode, VerificationError. */
    readonly reason: string,
    message: string,
    readonly stalled = false,
  ) {
    super(message);
    this.name = "VerificationError";
  }
}

/** `head` is Flux's older spelling of HEAD; an unset mode means HEAD. */
export function normalizeMode(mode: string | undefined): VerifyMode {
  return mode === "Tag" || mode === "TagAndHEAD" ? mode : "HEAD";
}

/** Splits a Secret's data into key kinds by key name, as Flux documents it. */
export function trustedKeys(data: Record<string, string>): TrustedKeys {
  const keys: TrustedKeys = { pgp: [], ssh: [] };
  for (const name of Object.keys(data).sort()) {
    const value = Buffer.from(data[name]!, "base64").toString("utf8");
    if (name.endsWith(".sshpub")) keys.ssh.push(value);
    else keys.pgp.push(value);
  }
  return keys;
}

/** What a verified object was signed with: the OpenPGP key ID or the SSH key's SHA256 fingerprint. */
export interface Verified {
  object: "commit" | "tag";
  name: string;
  key: string;
}

/**
 * Verifies the checkout in `dir` per mode. `tagRef` is the tag the checkout came from (refs/tags/…), if any.
 * Throws VerificationError with Flux's reason; returns what was verified, tag first.
 */
export async function verifyCheckout(session: GitSession, dir: string, mode: VerifyMode, tagRef: string | undefined, keys: TrustedKeys, signal: AbortSignal): Promise<Verified[]> {
  if (!keys.pgp.length && !keys.ssh.length) throw new VerificationError("VerificationError", "public keys secret holds no keys");
  const env = await prepareKeys(session.dir, keys, signal);
  const verified: Verified[] = [];
  if (mode === "Tag" || mode === "TagAndHEAD") {
    if (!tagRef) throw new VerificationError("InvalidVerificationMode", "cannot verify tag object's signature if a tag reference is not specified", true);
    const tag = tagRef.replace(/^refs\/tags\//, "");
    if ((await session.objectType(dir, tagRef, signal)) !== "tag") throw new VerificationError("InvalidGitObject", `cannot verify signature of tag '${tag}' since it is not signed`);
    const r = await session.probe(["verify-tag", "--raw", tagRef], dir, signal, env);
    const outcome = readOutcome(r.stdout + r.stderr, r.code);
    if (!outcome.ok) throw new VerificationError("InvalidTagSignature", `signature verification of tag '${tag}' failed: ${outcome.why}`);
    verified.push({ object: "tag", name: tag, key: outcome.key });
  }
  if (mode === "HEAD" || mode === "TagAndHEAD") {
    const sha = (await session.probe(["rev-parse", "HEAD"], dir, signal)).stdout.trim();
    const r = await session.probe(["verify-commit", "--raw", "HEAD"], dir, signal, env);
    const outcome = readOutcome(r.stdout + r.stderr, r.code);
    if (!outcome.ok) throw new VerificationError("InvalidCommitSignature", `signature verification of commit '${sha}' failed: ${outcome.why}`);
    verified.push({ object: "commit", name: sha, key: outcome.key });
  }
  return verified;
}

/** The SourceVerified message: what was verified with which key. */
export function verifiedMessage(verified: Verified[]): string {
  return "verified signature of\n" + verified.map((v) => `\t- ${v.object} '${v.name}' with key '${v.key}'`).join("\n");
}

/** Imports the OpenPGP keys into a private GNUPGHOME and writes the SSH allowed-signers file; returns git's env. */
async function prepareKeys(sessionDir: string, keys: TrustedKeys, signal: AbortSignal): Promise<NodeJS.ProcessEnv> {
  const home = path.join(sessionDir, "gnupg");
  await fs.promises.mkdir(home, { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = { GNUPGHOME: home };
  if (keys.pgp.length) {
    const imported = await run("gpg", ["--batch", "--no-tty", "--quiet", "--homedir", home, "--import"], keys.pgp.join("\n"), env, signal);
    if (imported.code !== 0 && !/imported|unchanged/.test(imported.stderr))
      throw new VerificationError("VerificationError", "public keys secret holds no valid OpenPGP public key");
  }
  const signers = path.join(sessionDir, "allowed_signers");
  const lines = keys.ssh
    .flatMap((k) => k.split("\n"))
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => `* ${l.split(/\s+/).slice(0, 2).join(" ")}`);
  await fs.promises.writeFile(signers, lines.join("\n") + "\n", { mode: 0o600 });
  // Passed as `git -c` settings would be; the session's own settings (GIT_CONFIG_COUNT) stay as they are.
  env.GIT_CONFIG_PARAMETERS = `'gpg.ssh.allowedSignersFile=${signers}' 'gpg.minTrustLevel=undefined'`;
  return env;
}

/** Reads gpg's status lines or ssh-keygen's answer into ok + key, or a reason. */
function readOutcome(text: string, code: number): { ok: true; key: string } | { ok: false; why: string } {
  const status = (name: string) => new RegExp(`^\\[GNUPG:\\] ${name}\\b(.*)$`, "m").exec(text)?.[1]?.trim();
  const good = status("GOODSIG");
  if (code === 0 && good !== undefined) return { ok: true, key: good.split(/\s+/)[0]! };
  const ssh = /Good "git" signature for .* with \S+ key (SHA256:\S+)/.exec(text);
  if (code === 0 && ssh) return { ok: true, key: ssh[1]! };
  if (status("BADSIG") !== undefined) return { ok: false, why: "the signature does not match the signed content" };
  const noKey = status("NO_PUBKEY");
  if (noKey !== undefined) return { ok: false, why: `signed with key '${noKey}', which is not among the trusted public keys` };
  if (status("EXPKEYSIG") !== undefined) return { ok: false, why: "signed with an expired key" };
  if (status("REVKEYSIG") !== undefined) return { ok: false, why: "signed with a revoked key" };
  if (/No principal matched|Could not verify signature|ssh-keygen.*not found|allowed signers/i.test(text)) return { ok: false, why: "SSH signature made with a key that is not among the trusted public keys" };
  if (/Signature verification failed|incorrect signature/i.test(text)) return { ok: false, why: "the SSH signature does not match the signed content" };
  if (!text.trim()) return { ok: false, why: "the object is not signed" };
  return { ok: false, why: "the signature could not be verified" };
}

function run(cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH, LANG: "C", LC_ALL: "C", ...env }, stdio: ["pipe", "ignore", "pipe"], signal });
    const err: Buffer[] = [];
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => reject(new VerificationError("VerificationError", `${cmd}: ${e.message}`)));
    child.on("close", (code) => resolve({ code: code ?? 1, stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.end(input);
  });
}
