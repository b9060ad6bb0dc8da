// SOPS-encrypted manifests. Mooring does not decrypt (spec.decryption is not supported yet), so an encrypted
// object in a build is refused before anything of the build is applied: it is never applied as ciphertext.
import { ReconcileError } from "../runtime/errors";
import { ReconciliationFailedReason, type KustomizationSpec } from "../api/kustomize";
import { describe, type Manifest } from "./inventory";

/** Keys SOPS writes into the metadata block it adds to an encrypted document. */
const sopsMetadataKeys = [
  "mac",
  "lastmodified",
  "version",
  "encrypted_regex",
  "encrypted_suffix",
  "unencrypted_regex",
  "unencrypted_suffix",
  "encrypted_comment_regex",
  "unencrypted_comment_regex",
  "mac_only_encrypted",
  "age",
  "pgp",
  "kms",
  "gcp_kms",
  "azure_kv",
  "hc_vault",
  "key_groups",
];

/**
 * True when the object is SOPS encrypted: a v1 Secret with a top-level `sops` key (as Flux decides), or any
 * object whose top-level `sops` is a mapping holding SOPS metadata (mac, lastmodified, encrypted_regex, …).
 */
export function isSopsEncrypted(obj: Manifest): boolean {
  if (!Object.hasOwn(obj, "sops")) return false;
  if (obj.kind === "Secret" && obj.apiVersion === "v1") return true;
  const meta = obj.sops;
  return typeof meta === "object" && meta !== null && !Array.isArray(meta) && sopsMetadataKeys.some((k) => Object.hasOwn(meta, k));
}

/**
 * Refuses a build that holds SOPS-encrypted objects: the error names every such object and says what to do.
 * The message never carries any of the object's data.
 */
export function refuseEncrypted(objects: Manifest[], decryption: KustomizationSpec["decryption"]): void {
  const encrypted = objects.filter(isSopsEncrypted).map(describe).sort();
  if (!encrypted.length) return;
  const list = encrypted.join(", ");
  const what = encrypted.length === 1 ? "is SOPS encrypted" : "are SOPS encrypted";
  const message = decryption
    ? `${list} ${what}, and decryption with provider '${decryption.provider ?? ""}' is not supported by Mooring: decrypt ${encrypted.length === 1 ? "it" : "them"} before committing or apply ${encrypted.length === 1 ? "it" : "them"} another way; nothing of this revision was applied`
    : `${list} ${what}, configuring decryption is required for ${encrypted.length === 1 ? "this object" : "these objects"} to be reconciled; nothing of this revision was applied`;
  throw new ReconcileError(ReconciliationFailedReason, message);
}
