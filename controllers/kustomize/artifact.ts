// Fetching a source artifact: download (bounded, with a timeout), verify its sha256 digest, and extract the
// tar.gz safely — no absolute paths, no "..", no links leaving the root, no writes through symlinks,
// no special files, and limits on size and entry count.
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { createHash } from "node:crypto";

export interface ExtractLimits {
  /** Total bytes of file content. Default 256 MiB. */
  maxBytes: number;
  /** Number of entries. Default 50 000. */
  maxEntries: number;
}

export const defaultLimits: ExtractLimits = { maxBytes: 256 << 20, maxEntries: 50_000 };

export class ArtifactError extends Error {
  override name = "ArtifactError";
  constructor(
    message: string,
    /** source-controller answered 404: the artifact is announced but not (yet) in the storage that serves it. */
    readonly notFound = false,
  ) {
    super(message);
  }
}

/** How often a failed download is retried (Flux's `--http-retry`, default 9), with exponential backoff. */
export interface DownloadRetry {
  retries: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

export const defaultDownloadRetry: DownloadRetry = { retries: 9, firstDelayMs: 1000, maxDelayMs: 10_000 };

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Downloads url into memory (at most maxBytes) and checks it against digest ("sha256:<hex>"). A refused
 * connection or a 5xx answer is retried with backoff: source-controller may announce an artifact before its
 * Service routes to it (a pod not Ready yet, a restart).
 */
export async function downloadArtifact(url: string, digest: string | undefined, signal: AbortSignal, maxBytes = defaultLimits.maxBytes, retry = defaultDownloadRetry): Promise<Buffer> {
  let res: Response | undefined;
  for (let attempt = 0; ; attempt++) {
    let failure: string;
    try {
      res = await fetch(url, { signal });
      if (res.status < 500) break;
      failure = `failed to download artifact from ${url}, status: ${res.status} ${res.statusText}`;
      await res.body?.cancel();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      failure = `failed to download artifact from ${url}: ${signal.aborted ? "timed out" : `${(err as Error).message}${cause?.code ? ` (${cause.code})` : ""}`}`;
    }
    if (signal.aborted || attempt >= retry.retries) throw new ArtifactError(attempt > 0 ? `${failure} (after ${attempt + 1} attempts)` : failure);
    await pause(Math.min(retry.maxDelayMs, retry.firstDelayMs * 2 ** attempt), signal);
  }
  if (res.status !== 200) throw new ArtifactError(`failed to download artifact from ${url}, status: ${res.status} ${res.statusText}`, res.status === 404);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) throw new ArtifactError(`artifact from ${url} exceeds the ${maxBytes} bytes limit`);
    chunks.push(Buffer.from(chunk));
  }
  const bytes = Buffer.concat(chunks);
  verifyDigest(bytes, digest);
  return bytes;
}

export function verifyDigest(bytes: Buffer, digest: string | undefined): void {
  if (!digest) throw new ArtifactError("artifact has no digest; refusing to use an unverified artifact");
  const [algo, want] = digest.split(":", 2);
  if (algo !== "sha256" || !want) throw new ArtifactError(`unsupported artifact digest "${digest}" (only sha256 is supported)`);
  const got = createHash("sha256").update(bytes).digest("hex");
  if (got !== want) throw new ArtifactError(`failed to verify artifact: computed digest sha256:${got} does not match ${digest}`);
}

export interface TarEntry {
  path: string;
  type: "file" | "dir" | "symlink" | "hardlink" | "other";
  mode: number;
  linkTarget?: string;
  data?: Buffer;
}

/** Parses an uncompressed tar (ustar, GNU long names, PAX path/linkpath) into entries. */
export function parseTar(buf: Buffer, limits: ExtractLimits = defaultLimits): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  let total = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseNumber(h.subarray(124, 136));
    const typeflag = String.fromCharCode(h[156] ?? 0);
    const dataStart = off + 512;
    if (dataStart + size > buf.length) throw new ArtifactError("truncated tar archive");
    const data = buf.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / 512) * 512;
    if (typeflag === "L") {
      longName = cstring(data);
      continue;
    }
    if (typeflag === "K") {
      longLink = cstring(data);
      continue;
    }
    if (typeflag === "x") {
      pax = parsePax(data);
      continue;
    }
    if (typeflag === "g") continue;
    const magic = h.subarray(257, 262).toString("latin1");
    const prefix = magic === "ustar" ? cstring(h.subarray(345, 500)) : "";
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${cstring(h.subarray(0, 100))}` : cstring(h.subarray(0, 100)));
    const link = pax.linkpath ?? longLink ?? cstring(h.subarray(157, 257));
    longName = longLink = undefined;
    pax = {};
    const mode = parseNumber(h.subarray(100, 108)) & 0o7777;
    const type: TarEntry["type"] =
      typeflag === "0" || typeflag === "\0" || typeflag === "7" ? "file" : typeflag === "5" ? "dir" : typeflag === "2" ? "symlink" : typeflag === "1" ? "hardlink" : "other";
    if (out.length + 1 > limits.maxEntries) throw new ArtifactError(`artifact has more than ${limits.maxEntries} entries`);
    if (type === "file") {
      total += size;
      if (total > limits.maxBytes) throw new ArtifactError(`artifact content exceeds ${limits.maxBytes} bytes`);
    }
    // File data is copied out: entries outlive the archive (shared artifacts are kept), and a view would keep
    // every header and block padding of the whole archive alive.
    out.push({ path: name, type, mode, ...(type === "symlink" || type === "hardlink" ? { linkTarget: link } : {}), ...(type === "file" ? { data: Buffer.from(data) } : {}) });
  }
  return out;
}

function cstring(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString("utf8");
}

function parseNumber(b: Buffer): number {
  if ((b[0] ?? 0) & 0x80) {
    // base-256 (GNU) for large values
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + (b[i] ?? 0);
    return n;
  }
  const s = cstring(b).trim();
  return s ? parseInt(s, 8) : 0;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(data.subarray(off, sp).toString("ascii"), 10);
    if (!len) break;
    const rec = data.subarray(sp + 1, off + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/** Normalises an archive path to a "/"-separated relative path, or throws when it is unsafe. */
export function safeRelativePath(p: string): string {
  if (p.includes("\0")) throw new ArtifactError(`unsafe path in artifact: ${JSON.stringify(p)}`);
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p) || p.includes("\\")) throw new ArtifactError(`absolute or non-portable path in artifact: ${p}`);
  const parts = p.split("/").filter((x) => x !== "" && x !== ".");
  if (parts.some((x) => x === "..")) throw new ArtifactError(`path traversal in artifact: ${p}`);
  return parts.join("/");
}

/** True when a symlink at linkPath (relative to the root) pointing at target resolves inside the root. */
export function symlinkStaysInside(linkPath: string, target: string): boolean {
  if (target.startsWith("/") || target.includes("\0")) return false;
  const dir = path.posix.dirname(linkPath);
  const resolved = path.posix.normalize(path.posix.join(dir === "." ? "" : dir, target));
  return resolved !== ".." && !resolved.startsWith("../") && !path.posix.isAbsolute(resolved);
}

/** Decompresses and parses a tar.gz artifact (bounded by limits). */
export function unpackArtifact(tgz: Buffer, limits: ExtractLimits = defaultLimits): TarEntry[] {
  let tar: Buffer;
  try {
    tar = zlib.gunzipSync(tgz, { maxOutputLength: limits.maxBytes + limits.maxEntries * 1024 + (1 << 20) });
  } catch (err) {
    throw new ArtifactError(`failed to decompress artifact: ${(err as Error).message}`);
  }
  return parseTar(tar, limits);
}

/** Extracts a tar.gz artifact into dir (which must exist and be empty). */
export async function extractArtifact(tgz: Buffer, dir: string, limits: ExtractLimits = defaultLimits): Promise<void> {
  await writeEntries(unpackArtifact(tgz, limits), dir);
}

/** Writes parsed artifact entries into dir (which must exist and be empty), refusing unsafe ones. */
export async function writeEntries(entries: TarEntry[], dir: string): Promise<void> {
  const symlinks = new Set<string>();
  const root = path.resolve(dir);
  for (const e of entries) {
    const rel = safeRelativePath(e.path);
    if (rel === "") continue;
    // Never write through a symlink created by an earlier entry.
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      if (symlinks.has(prefix)) throw new ArtifactError(`artifact entry ${rel} goes through symlink ${prefix}`);
    }
    const target = path.join(root, ...parts);
    switch (e.type) {
      case "dir":
        await fs.promises.mkdir(target, { recursive: true, mode: 0o755 });
        break;
      case "file":
        await fs.promises.mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
        await fs.promises.writeFile(target, e.data ?? Buffer.alloc(0), { mode: e.mode & 0o111 ? 0o755 : 0o644, flag: "wx" });
        break;
      case "symlink":
        if (!symlinkStaysInside(rel, e.linkTarget ?? "")) throw new ArtifactError(`symlink ${rel} -> ${e.linkTarget} points outside the artifact`);
        await fs.promises.mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
        await fs.promises.symlink(e.linkTarget!, target);
        symlinks.add(rel);
        break;
      case "hardlink":
        throw new ArtifactError(`hard link ${rel} in artifact is not allowed`);
      default:
        throw new ArtifactError(`special file ${rel} in artifact is not allowed`);
    }
  }
}
