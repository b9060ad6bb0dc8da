// A real S3-compatible server for tests and benchmarks: SeaweedFS (`weed server` with master, volume, filer
// and S3 gateway in one process) on loopback, in a temporary directory, with static access/secret keys from
// an S3 identities file, and a few signed S3 calls to create buckets and put and delete objects.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { authorization, amzDate, uriEncode, type Credentials } from "../controllers/source/sigv4";
import { freePort, releasePorts } from "./ports";
import { toolPath } from "./tools";

export interface S3ServerOptions {
  /** Static keys the server accepts (one identity with every action). */
  credentials?: Credentials;
  /** Buckets created once the server is up. */
  buckets?: string[];
  /** Serve HTTPS with this certificate and key (PEM) instead of HTTP; `ca` is what the helper's own calls trust. */
  tls?: { cert: string; key: string; ca?: string };
}

export interface S3Server {
  /** "127.0.0.1:<port>" — a Bucket's spec.endpoint. */
  endpoint: string;
  credentials: Credentials;
  dir: string;
  createBucket(name: string): Promise<void>;
  putObject(bucket: string, key: string, body: Buffer | string): Promise<void>;
  deleteObject(bucket: string, key: string): Promise<void>;
  /** Stops the process and removes its directory. */
  stop(): Promise<void>;
}

export const defaultS3Credentials: Credentials = { accessKeyId: "mooring-test-access", secretAccessKey: "mooring-test-secret-0123456789" };

export async function startS3Server(o: S3ServerOptions = {}): Promise<S3Server> {
  const weed = await toolPath("weed");
  const credentials = o.credentials ?? defaultS3Credentials;
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "mooring-seaweedfs-"));
  const config = path.join(dir, "s3.json");
  await fs.promises.writeFile(
    config,
    JSON.stringify({ identities: [{ name: "mooring", credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }], actions: ["Admin", "Read", "List", "Tagging", "Write"] }] }),
    { mode: 0o600 },
  );
  const ports = { master: await freePort(), masterGrpc: await freePort(), volume: await freePort(), volumeGrpc: await freePort(), filer: await freePort(), filerGrpc: await freePort(), s3: await freePort(), s3Grpc: await freePort() };
  const data = path.join(dir, "data");
  await fs.promises.mkdir(data);
  const args = [
    "server",
    `-dir=${data}`,
    "-ip=127.0.0.1",
    "-ip.bind=127.0.0.1",
    `-master.port=${ports.master}`,
    `-master.port.grpc=${ports.masterGrpc}`,
    // Small volumes, many allowed: every bucket is a collection with volumes of its own.
    "-master.volumeSizeLimitMB=64",
    // No anonymous statistics sent to the internet.
    "-master.telemetry=false",
    `-volume.port=${ports.volume}`,
    `-volume.port.grpc=${ports.volumeGrpc}`,
    "-volume.max=500",
    "-filer",
    `-filer.port=${ports.filer}`,
    `-filer.port.grpc=${ports.filerGrpc}`,
    "-s3",
    `-s3.port=${ports.s3}`,
    `-s3.port.grpc=${ports.s3Grpc}`,
    `-s3.config=${config}`,
    // The Iceberg and Lance catalogs listen on fixed ports by default: off, so several servers can run at once.
    "-s3.port.iceberg=0",
    "-s3.port.lance=0",
  ];
  if (o.tls) {
    await fs.promises.writeFile(path.join(dir, "tls.crt"), o.tls.cert);
    await fs.promises.writeFile(path.join(dir, "tls.key"), o.tls.key, { mode: 0o600 });
    args.push(`-s3.cert.file=${path.join(dir, "tls.crt")}`, `-s3.key.file=${path.join(dir, "tls.key")}`);
  }
  const logFile = path.join(dir, "weed.log");
  const log = fs.openSync(logFile, "a");
  const child: ChildProcess = spawn(weed, args, { stdio: ["ignore", log, log], cwd: dir });
  fs.closeSync(log);
  let exited = false;
  child.once("exit", () => (exited = true));
  const endpoint = `127.0.0.1:${ports.s3}`;
  const scheme = o.tls ? "https" : "http";
  const call = (method: string, p: string, body?: Buffer) => signedRequest({ scheme, endpoint, method, path: p, body, credentials, ca: o.tls?.ca ?? o.tls?.cert });
  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const gone = await Promise.race([new Promise<boolean>((r) => child.once("exit", () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      if (!gone) child.kill("SIGKILL");
    }
    await fs.promises.rm(dir, { recursive: true, force: true });
  };
  try {
    // Ready when the S3 gateway answers an authenticated ListBuckets (it needs master, volume and filer).
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (exited) throw new Error(`weed server exited during start-up:\n${fs.readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n")}`);
      const res = await call("GET", "/").catch(() => undefined);
      if (res?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`weed server's S3 gateway did not answer on ${endpoint} within 90 s; log ${logFile}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    releasePorts(Object.values(ports));
    const server: S3Server = {
      endpoint,
      credentials,
      dir,
      async createBucket(name) {
        const res = await call("PUT", `/${uriEncode(name)}`);
        if (res.status !== 200) throw new Error(`create bucket ${name}: HTTP ${res.status} ${res.body}`);
      },
      async putObject(bucket, key, body) {
        const res = await call("PUT", `/${uriEncode(bucket)}/${uriEncode(key, false)}`, Buffer.from(body));
        if (res.status !== 200) throw new Error(`put ${bucket}/${key}: HTTP ${res.status} ${res.body}`);
      },
      async deleteObject(bucket, key) {
        const res = await call("DELETE", `/${uriEncode(bucket)}/${uriEncode(key, false)}`);
        if (res.status !== 204 && res.status !== 200) throw new Error(`delete ${bucket}/${key}: HTTP ${res.status} ${res.body}`);
      },
      stop,
    };
    for (const b of o.buckets ?? []) await server.createBucket(b);
    return server;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One SigV4-signed path-style request; resolves with the status and body text. */
export function signedRequest(r: { scheme: string; endpoint: string; method: string; path: string; body?: Buffer; credentials: Credentials; ca?: string }): Promise<{ status: number; body: string }> {
  const date = new Date();
  const body = r.body ?? Buffer.alloc(0);
  const payloadHash = createHash("sha256").update(body).digest("hex");
  const headers: Record<string, string> = { host: r.endpoint, "x-amz-date": amzDate(date), "x-amz-content-sha256": payloadHash };
  headers.authorization = authorization({ method: r.method, path: r.path, headers: { ...headers }, payloadHash, region: "us-east-1", service: "s3", date }, r.credentials);
  headers["content-length"] = String(body.length);
  const [host, port] = r.endpoint.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const req = (r.scheme === "https" ? https : http).request({ method: r.method, hostname: host, port: Number(port), path: r.path, headers, ca: r.ca, agent: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}
