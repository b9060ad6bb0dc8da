// Deterministic tar.gz archives of a directory: entries sorted by path, mtime 0, uid/gid 0, no owner names,
// modes normalised (0755 dirs and executables, 0644 files), and the gzip header zlib writes carries no
// time or name. The same tree gives the same bytes, so the same digest.
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Readable, Transform } from "node:stream";
import type { IgnoreMatcher } from "./ignore";

export interface TreeEntry {
  /** "/"-separated path relative to the root. */
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  size: number;
  linkTarget?: string;
}

/** Lists the tree in archive order (sorted, depth-first), leaving out ignored paths and their children. */
export async function listTree(root: string, matcher: IgnoreMatcher): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  async function walk(rel: string): Promise<void> {
    const names = (await fs.promises.readdir(path.join(root, rel))).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name;
      const st = await fs.promises.lstat(path.join(root, relPath));
      const isDir = st.isDirectory();
      if (matcher.ignores(relPath, isDir)) continue;
      if (isDir) {
        // A directory whose content is all ignored is left out, so ignored-only changes keep the digest.
        const at = out.length;
        out.push({ path: relPath, type: "dir", mode: 0o755, size: 0 });
        await walk(relPath);
        if (out.length === at + 1) out.pop();
      } else if (st.isSymbolicLink()) {
        out.push({ path: relPath, type: "symlink", mode: 0o777, size: 0, linkTarget: await fs.promises.readlink(path.join(root, relPath)) });
      } else if (st.isFile()) {
        out.push({ path: relPath, type: "file", mode: st.mode & 0o111 ? 0o755 : 0o644, size: st.size });
      }
    }
  }
  await walk("");
  return out;
}

const block = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

/** One ustar header block (uid/gid/mtime zero, checksum filled in). */
export function tarHeader(name: string, e: { mode: number; size: number; typeflag: string; linkname?: string }): Buffer {
  const h = Buffer.alloc(block);
  h.write(name, 0, 100, "utf8");
  h.write(octal(e.mode, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(e.size, 12), 124, "ascii");
  h.write(octal(0, 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write(e.typeflag, 156, "ascii");
  if (e.linkname) h.write(e.linkname, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

function paxRecord(key: string, value: string): string {
  // "<len> key=value\n" where len counts the whole record, itself included.
  const body = ` ${key}=${value}\n`;
  const b = Buffer.byteLength(body);
  let n = b + 1;
  while (n !== b + String(n).length) n++;
  return `${n}${body}`;
}

function pad(size: number): Buffer {
  const rest = size % block;
  return Buffer.alloc(rest === 0 ? 0 : block - rest);
}

async function* tarStream(root: string, entries: TreeEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    const name = e.type === "dir" ? `${e.path}/` : e.path;
    const needsPax = Buffer.byteLength(name) > 99 || Buffer.byteLength(e.linkTarget ?? "") > 99;
    if (needsPax) {
      let records = paxRecord("path", name);
      if (e.linkTarget) records += paxRecord("linkpath", e.linkTarget);
      const data = Buffer.from(records, "utf8");
      yield tarHeader("PaxHeader", { mode: 0o644, size: data.length, typeflag: "x" });
      yield data;
      yield pad(data.length);
    }
    const shortName = needsPax ? name.slice(0, 99) : name;
    if (e.type === "dir") yield tarHeader(shortName, { mode: e.mode, size: 0, typeflag: "5" });
    else if (e.type === "symlink") yield tarHeader(shortName, { mode: e.mode, size: 0, typeflag: "2", linkname: needsPax ? "" : e.linkTarget });
    else {
      yield tarHeader(shortName, { mode: e.mode, size: e.size, typeflag: "0" });
      let written = 0;
      for await (const chunk of fs.createReadStream(path.join(root, e.path))) {
        const buf = chunk as Buffer;
        // A file that grew while archiving is cut at the size recorded in its header.
        const take = buf.subarray(0, Math.max(0, e.size - written));
        written += take.length;
        yield take;
      }
      if (written < e.size) yield Buffer.alloc(e.size - written);
      yield pad(e.size);
    }
  }
  yield Buffer.alloc(block * 2);
}

export interface ArchiveResult {
  digest: string;
  size: number;
}

/** A pass-through stream that hashes (sha256) and counts what flows through it; result() once it ended. */
export function digestTap(): Transform & { result(): ArchiveResult } {
  const hash = createHash("sha256");
  let size = 0;
  let digest: string | undefined;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { result(): ArchiveResult };
  tap.result = () => ({ digest: (digest ??= `sha256:${hash.digest("hex")}`), size });
  return tap;
}

/** Writes the archive of `root` to `out`, returning its sha256 digest ("sha256:<hex>") and size. */
export async function writeArchive(root: string, matcher: IgnoreMatcher, out: string): Promise<ArchiveResult> {
  const entries = await listTree(root, matcher);
  const tap = digestTap();
  await pipeline(Readable.from(tarStream(root, entries)), zlib.createGzip({ level: 6 }), tap, fs.createWriteStream(out));
  return tap.result();
}
