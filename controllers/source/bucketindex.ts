// The object index of a Bucket: object key → ETag. Its revision is Flux's: "sha256:" + the SHA-256 of one
// "<key> <etag>\n" line per object, keys in byte order, so the same bucket content gives the same revision in
// Flux and Mooring, and an unchanged index means nothing to download.
import { createHash } from "node:crypto";
import * as path from "node:path";

export type BucketIndex = Map<string, string>;

/** Keys in byte order (Go's sort.Strings), not locale order. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** The index as the lines its digest is taken over. */
export function indexText(index: BucketIndex): string {
  return [...index.keys()]
    .sort(byteOrder)
    .map((k) => `${k} ${index.get(k)}\n`)
    .join("");
}

/** "sha256:<hex>" of the index. */
export function indexRevision(index: BucketIndex): string {
  const h = createHash("sha256");
  for (const k of [...index.keys()].sort(byteOrder)) h.update(`${k} ${index.get(k)}\n`);
  return `sha256:${h.digest("hex")}`;
}

/** An S3 ETag without the quotes servers put around it. */
export function trimEtag(etag: string): string {
  return etag.replace(/^"+|"+$/g, "").replace(/^&quot;|&quot;$/g, "");
}

/**
 * Why an object key cannot become a file of the artifact, or undefined when it can: absolute keys, keys with
 * "." or ".." segments, backslashes, NUL bytes and empty segments are refused (a key is a path in the tarball).
 */
export function unsafeKeyReason(key: string): string | undefined {
  if (key.length === 0) return "empty key";
  if (key.includes("\0")) return "NUL byte in key";
  if (key.includes("\\")) return "backslash in key";
  if (key.startsWith("/") || path.posix.isAbsolute(key) || /^[A-Za-z]:/.test(key)) return "absolute path";
  const segments = key.split("/");
  if (segments.some((s) => s === "..")) return "path traversal ('..' segment)";
  if (segments.some((s) => s === ".")) return "'.' segment";
  if (segments.some((s, i) => s === "" && i < segments.length - 1)) return "empty path segment";
  return undefined;
}

export interface ListedObject {
  key: string;
  etag: string;
  size: number;
}

export interface ListPage {
  objects: ListedObject[];
  truncated: boolean;
  nextContinuationToken?: string;
}

const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML character data → text: the five named entities and numeric references. */
export function xmlText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return entities[e] ?? m;
  });
}

function element(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? m[1] : undefined;
}

/** Parses a ListObjectsV2 response body (ListBucketResult). Keys are URL-decoded when the response says so. */
export function parseListObjectsV2(xml: string): ListPage {
  if (!/<ListBucketResult[\s>]/.test(xml)) throw new Error("response is not a ListBucketResult document");
  const urlEncoded = (element(xml, "EncodingType") ?? "").trim() === "url";
  const objects: ListedObject[] = [];
  for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const c = m[1]!;
    const rawKey = element(c, "Key");
    if (rawKey === undefined) continue;
    let key = xmlText(rawKey);
    if (urlEncoded) key = decodeURIComponent(key.replace(/\+/g, " "));
    objects.push({ key, etag: trimEtag(xmlText(element(c, "ETag") ?? "")), size: Number(element(c, "Size") ?? 0) });
  }
  const truncated = (element(xml, "IsTruncated") ?? "").trim() === "true";
  const token = element(xml, "NextContinuationToken");
  return { objects, truncated, ...(token ? { nextContinuationToken: xmlText(token) } : {}) };
}

/** Code and message of an S3 <Error> document, when the body is one. */
export function parseS3Error(xml: string): { code: string; message: string } | undefined {
  if (!/<Error[\s>]/.test(xml)) return undefined;
  return { code: xmlText(element(xml, "Code") ?? "").trim(), message: xmlText(element(xml, "Message") ?? "").trim() };
}
