// Google-signed OIDC ID tokens, as Pub/Sub push subscriptions send them (Authorization: Bearer <JWT>): an RS256
// signature by one of Google's published keys (a JWKS document, fetched and kept until its Cache-Control max-age
// runs out or an unknown key id shows up), issuer accounts.google.com, the expected audience, not expired, and the
// expected service-account email, verified. The key URL is configurable so that a loopback server can stand in.
import { createPublicKey, verify as verifySignature, type JsonWebKey, type KeyObject } from "node:crypto";

export const googleCertsUrl = "https://www.googleapis.com/oauth2/v3/certs";
const googleIssuers = ["accounts.google.com", "https://accounts.google.com"];
/** Clock skew allowed on exp, iat and nbf. */
const skewSeconds = 60;

export class IdTokenError extends Error {}

export interface GoogleIdTokenOptions {
  /** Where Google's JWKS is fetched (default googleCertsUrl). */
  certsUrl?: string;
  timeoutMs?: number;
  now?: () => number;
}

interface Keys {
  byKid: Map<string, KeyObject>;
  expiresAt: number;
  fetchedAt: number;
}

const b64url = (s: string): Buffer => Buffer.from(s, "base64url");

function decodePart(s: string, what: string): Record<string, unknown> {
  try {
    const doc: unknown = JSON.parse(b64url(s).toString("utf8"));
    if (typeof doc === "object" && doc !== null && !Array.isArray(doc)) return doc as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new IdTokenError(`the token's ${what} is not base64url JSON`);
}

export class GoogleIdTokens {
  private keys?: Keys;
  private loading?: Promise<Keys>;

  constructor(private readonly o: GoogleIdTokenOptions = {}) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Checks an Authorization header value; resolves with the claims or rejects with an IdTokenError saying why. */
  async verify(authorization: string | undefined, email: string, audience: string): Promise<Record<string, unknown>> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    if (!m) throw new IdTokenError("missing 'Authorization: Bearer <token>'");
    const parts = m[1]!.split(".");
    if (parts.length !== 3) throw new IdTokenError("the bearer token is not a JWT");
    const [h, p, sig] = parts as [string, string, string];
    const header = decodePart(h, "header");
    if (header.alg !== "RS256") throw new IdTokenError(`the token's algorithm '${String(header.alg)}' is not RS256`);
    const kid = typeof header.kid === "string" ? header.kid : "";
    const key = await this.key(kid);
    if (!verifySignature("RSA-SHA256", Buffer.from(`${h}.${p}`), key, b64url(sig))) throw new IdTokenError("the token's signature is not Google's");
    const claims = decodePart(p, "claims");
    const now = this.now() / 1000;
    if (!googleIssuers.includes(String(claims.iss))) throw new IdTokenError(`the token's issuer '${String(claims.iss)}' is not accounts.google.com`);
    const aud = claims.aud;
    if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) throw new IdTokenError("the token's audience is not the one in the Secret's 'audience'");
    if (typeof claims.exp !== "number" || claims.exp + skewSeconds < now) throw new IdTokenError("the token has expired");
    if (typeof claims.iat === "number" && claims.iat - skewSeconds > now) throw new IdTokenError("the token is issued in the future");
    if (typeof claims.nbf === "number" && claims.nbf - skewSeconds > now) throw new IdTokenError("the token is not valid yet");
    if (claims.email !== email) throw new IdTokenError("the token's email is not the one in the Secret's 'email'");
    if (claims.email_verified !== true) throw new IdTokenError("the token's email is not verified");
    return claims;
  }

  /** The key for a key id; an unknown id refetches the keys (at most once a minute), as Google rotates them. */
  private async key(kid: string): Promise<KeyObject> {
    let keys = this.keys;
    if (!keys || keys.expiresAt <= this.now() || (!keys.byKid.has(kid) && this.now() - keys.fetchedAt > 60_000)) keys = await this.load();
    const key = keys.byKid.get(kid);
    if (!key) throw new IdTokenError(`the token's key id '${kid}' is not among Google's keys`);
    return key;
  }

  private load(): Promise<Keys> {
    this.loading ??= this.fetchKeys().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async fetchKeys(): Promise<Keys> {
    let res: Response;
    try {
      res = await fetch(this.o.certsUrl ?? googleCertsUrl, { signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000) });
    } catch (err) {
      throw new Error(`could not fetch Google's token keys: ${(err as Error).message}`);
    }
    if (!res.ok) throw new Error(`could not fetch Google's token keys: HTTP ${res.status}`);
    const doc = (await res.json().catch(() => undefined)) as { keys?: (JsonWebKey & { kid?: string })[] } | undefined;
    if (!doc || !Array.isArray(doc.keys)) throw new Error("Google's token keys are not a JWKS document");
    const byKid = new Map<string, KeyObject>();
    for (const jwk of doc.keys) {
      if (jwk.kty !== "RSA" || typeof jwk.kid !== "string") continue;
      byKid.set(jwk.kid, createPublicKey({ key: jwk, format: "jwk" }));
    }
    const maxAge = /max-age=(\d+)/.exec(res.headers.get("cache-control") ?? "");
    const fetchedAt = this.now();
    this.keys = { byKid, fetchedAt, expiresAt: fetchedAt + (maxAge ? Number(maxAge[1]) : 3600) * 1000 };
    return this.keys;
  }
}
