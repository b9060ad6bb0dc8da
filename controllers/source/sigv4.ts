// AWS Signature Version 4 for S3 requests (header-based): canonical request → string to sign → HMAC-SHA256
// chain of date, region, service and "aws4_request" → Authorization header. Pure, so AWS's published test
// vectors check it.
import { createHash, createHmac } from "node:crypto";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignInput {
  method: string;
  /** Path as sent on the wire (already URI-encoded). */
  path: string;
  /** Query parameters, not encoded. */
  query?: Record<string, string>;
  /** Headers to sign; names in any case. `host` must be present. */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". */
  payloadHash: string;
  region: string;
  service: string;
  /** Request time. */
  date: Date;
}

export const emptyPayloadHash = createHash("sha256").update("").digest("hex");

/** RFC 3986 percent-encoding as SigV4 wants it: unreserved characters stay, everything else %XX (upper hex). */
export function uriEncode(value: string, encodeSlash = true): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (c === "/" && !encodeSlash)) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** "20150830T123600Z" */
export function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export function canonicalQuery(query: Record<string, string> = {}): string {
  return Object.entries(query)
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

function canonicalHeaders(headers: Record<string, string>): { canonical: string; signed: string } {
  const entries = Object.entries(headers)
    .map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, " ")] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { canonical: entries.map(([k, v]) => `${k}:${v}\n`).join(""), signed: entries.map(([k]) => k).join(";") };
}

export function canonicalRequest(i: SignInput): { request: string; signedHeaders: string } {
  const { canonical, signed } = canonicalHeaders(i.headers);
  return { request: [i.method, i.path || "/", canonicalQuery(i.query), canonical, signed, i.payloadHash].join("\n"), signedHeaders: signed };
}

export function stringToSign(i: SignInput, canonical: string): string {
  const day = amzDate(i.date).slice(0, 8);
  return ["AWS4-HMAC-SHA256", amzDate(i.date), `${day}/${i.region}/${i.service}/aws4_request`, createHash("sha256").update(canonical).digest("hex")].join("\n");
}

export function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  const h = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();
  return h(h(h(h(`AWS4${secret}`, day), region), service), "aws4_request");
}

/** The Authorization header value for the request. */
export function authorization(i: SignInput, creds: Credentials): string {
  const { request, signedHeaders } = canonicalRequest(i);
  const toSign = stringToSign(i, request);
  const day = amzDate(i.date).slice(0, 8);
  const signature = createHmac("sha256", signingKey(creds.secretAccessKey, day, i.region, i.service)).update(toSign).digest("hex");
  return `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${day}/${i.region}/${i.service}/aws4_request, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}
