// A loopback stand-in for Google's OAuth2 certs endpoint (a JWKS with one RS256 key generated here) and ID tokens
// signed with that key, in the shape Pub/Sub push subscriptions send them.
import * as http from "node:http";
import { generateKeyPairSync, sign } from "node:crypto";

export interface GoogleStandIn {
  certsUrl: string;
  /** A signed ID token with these claims over sensible defaults (issuer, issued now, valid an hour). */
  idToken(claims: Record<string, unknown>): string;
  close(): Promise<void>;
}

export async function googleStandIn(): Promise<GoogleStandIn> {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=19800" }).end(JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return {
    certsUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}/oauth2/v3/certs`,
    idToken(claims) {
      const data = `${enc({ alg: "RS256", kid, typ: "JWT" })}.${enc({ iss: "https://accounts.google.com", email_verified: true, iat: now, exp: now + 3600, ...claims })}`;
      return `${data}.${sign("RSA-SHA256", Buffer.from(data), privateKey).toString("base64url")}`;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
