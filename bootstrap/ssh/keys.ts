// ed25519 deploy keys in OpenSSH's own formats, produced with node:crypto alone.
// Private key layout: OpenSSH PROTOCOL.key ("openssh-key-v1", unencrypted); public key and
// fingerprint: RFC 8709 / RFC 4253 wire encoding, as ssh-keygen prints them.
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { BootstrapError } from "../errors";

export interface DeployKey {
  /** `-----BEGIN OPENSSH PRIVATE KEY-----` … ; a secret: never log it. */
  privateKey: string;
  /** authorized_keys line: `ssh-ed25519 AAAA… <comment>`. */
  publicKey: string;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

const keyType = "ssh-ed25519";

function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** The public key blob: string "ssh-ed25519", string key(32). */
function publicBlob(publicKey: Buffer): Buffer {
  return Buffer.concat([sshString(keyType), sshString(publicKey)]);
}

/** SHA256 fingerprint of a public key blob, OpenSSH style. */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Fingerprint of an authorized_keys line (`<type> <base64> [comment]`). */
export function fingerprintOfPublicKey(line: string): string {
  const [, b64] = line.trim().split(/\s+/);
  if (!b64) throw new BootstrapError("InvalidInput", "ssh: public key is not an authorized_keys line (`<type> <base64> [comment]`)");
  return fingerprintOfBlob(Buffer.from(b64, "base64"));
}

/** The key type and base64 blob of an authorized_keys line, without its comment: what identifies a key. */
export function publicKeyIdentity(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(" ");
}

function encodePrivateKey(seed: Buffer, publicKey: Buffer, comment: string, checkInt: number): string {
  const privateSection = Buffer.concat([
    uint32(checkInt),
    uint32(checkInt),
    sshString(keyType),
    sshString(publicKey),
    // OpenSSH stores the 64-byte ed25519 secret: seed followed by the public key.
    sshString(Buffer.concat([seed, publicKey])),
    sshString(comment),
  ]);
  // Unencrypted keys are padded with 1, 2, 3, … to the 8-byte block size of cipher "none".
  const padLength = (8 - (privateSection.length % 8)) % 8;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(Buffer.alloc(0)),
    uint32(1),
    sshString(publicBlob(publicKey)),
    sshString(Buffer.concat([privateSection, padding])),
  ]);
  const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** A new ed25519 key pair. The comment ends the public key line, e.g. `mooring@flux-system`. */
export function generateDeployKey(comment = "mooring"): DeployKey {
  if (/[\r\n]/.test(comment)) throw new BootstrapError("InvalidInput", "ssh: key comment must be one line");
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const pub = Buffer.from(publicKey.export({ format: "jwk" }).x ?? "", "base64url");
  const seed = Buffer.from(privateKey.export({ format: "jwk" }).d ?? "", "base64url");
  if (pub.length !== 32 || seed.length !== 32) throw new Error("ssh: node:crypto returned an ed25519 key of unexpected size");
  const blob = publicBlob(pub);
  return {
    privateKey: encodePrivateKey(seed, pub, comment, randomBytes(4).readUInt32BE()),
    publicKey: `${keyType} ${blob.toString("base64")}${comment ? ` ${comment}` : ""}`,
    fingerprint: fingerprintOfBlob(blob),
  };
}
