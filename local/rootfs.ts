// The images' base layer: a Debian root filesystem made by mmdebstrap from this machine's own apt sources and
// settings, written straight to a tar (root-owned system files, as dpkg installed them). It is cached
// machine-wide under a key of everything that decides its content, and built again only when that changes.
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { fmtMiB, fmtSeconds, ImageBuildError, imageCacheRoot, type Progress, runStep, sha256Text, withCacheLock } from "./imagecache";

/** What the base layer holds. The Dockerfile (bootstrap/Dockerfile) installs the same packages; a test checks. */
export interface RootfsSpec {
  /** Debian release, e.g. `bookworm`. */
  suite: string;
  /** mmdebstrap variant: `minbase` is the essential set plus apt. */
  variant: string;
  /** Packages installed on top of the variant. */
  packages: readonly string[];
  /** dpkg path filters: documentation, manual pages and translations are left out. */
  dpkgOptions: readonly string[];
}

export const rootfsSpec: RootfsSpec = {
  suite: "bookworm",
  variant: "minbase",
  packages: ["git", "openssh-client", "gpg", "ca-certificates", "tini"],
  dpkgOptions: [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
  ],
};

/** One apt sources file of this machine: its name decides the format (`.list` one-line, `.sources` deb822). */
export interface AptSource {
  file: string;
  content: string;
}

/** The machine's apt configuration that decides what the rootfs downloads and from where. */
export interface HostApt {
  sources: AptSource[];
  /** apt options carried into the build (proxies, release-file date checks), as `Name "value";` lines. */
  options: string[];
}

// Settings of this machine's apt that the build must share to reach the same archives the same way.
const carriedOptions = /^Acquire::((https?|ftp)::Proxy(::[^ ]+)?|Check-Valid-Until|Check-Date|Retries|ForceIPv4|ForceIPv6) /;

/** The options worth carrying, from the output of `apt-config dump`. */
export function aptOptionsFrom(dump: string): string[] {
  return dump
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => carriedOptions.test(l))
    .sort();
}

/** True when a sources file has at least one entry (not only comments and blank lines). */
export function hasAptEntries(content: string): boolean {
  return content.split("\n").some((l) => l.trim() !== "" && !l.trim().startsWith("#"));
}

/** Read this machine's apt sources (sources.list and sources.list.d/*.list|*.sources) and carried options. */
export async function readHostApt(etcApt = "/etc/apt"): Promise<HostApt> {
  const sources: AptSource[] = [];
  const main = path.join(etcApt, "sources.list");
  const mainContent = await fs.readFile(main, "utf8").catch(() => "");
  if (hasAptEntries(mainContent)) sources.push({ file: main, content: mainContent });
  const dir = path.join(etcApt, "sources.list.d");
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".list") || n.endsWith(".sources")).sort();
  for (const name of names) {
    const content = await fs.readFile(path.join(dir, name), "utf8");
    if (hasAptEntries(content)) sources.push({ file: path.join(dir, name), content });
  }
  if (sources.length === 0) {
    throw new ImageBuildError(`no apt sources on this machine (${main}, ${dir}/*.list|*.sources): the image's Debian rootfs is made from them`);
  }
  const dump = await new Promise<string>((resolve) =>
    execFile("apt-config", ["dump"], { maxBuffer: 16 << 20 }, (err, stdout) => resolve(err ? "" : String(stdout))),
  );
  return { sources, options: aptOptionsFrom(dump) };
}

/** The suites a sources file names (one-line `deb URI SUITE …` entries and deb822 `Suites:` fields). */
export function aptSuites(source: AptSource): string[] {
  const suites: string[] = [];
  for (const raw of source.content.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const deb822 = /^Suites:\s*(.*)$/i.exec(line);
    if (deb822) suites.push(...deb822[1]!.trim().split(/\s+/));
    const oneLine = /^deb\s+(\[[^\]]*\]\s+)?\S+\s+(\S+)/.exec(line);
    if (oneLine) suites.push(oneLine[2]!);
  }
  return suites;
}

/** The rootfs is the spec's release: this machine's sources must carry it (a trixie machine would make trixie). */
export function checkSourcesCarry(suite: string, apt: HostApt): void {
  const found = [...new Set(apt.sources.flatMap(aptSuites))];
  if (!found.includes(suite)) {
    throw new ImageBuildError(
      `this machine's apt sources (${apt.sources.map((s) => s.file).join(", ")}) name the suites ${found.join(", ") || "(none)"}, not ${suite}: ` +
        `the images are Debian ${suite}, as bootstrap/Dockerfile's base; add a ${suite} entry to the apt sources`,
    );
  }
}

/** The cache key of a rootfs: spec, sources and carried options. Any change makes a new rootfs. */
export function rootfsKey(spec: RootfsSpec, apt: HostApt): string {
  const sources = apt.sources.map((s) => ({ format: s.file.endsWith(".sources") ? "deb822" : "one-line", content: s.content }));
  return sha256Text(JSON.stringify({ layout: 1, spec, sources, options: apt.options })).slice(0, 20);
}

/** The mmdebstrap command line for a spec; the sources are passed as files (the last arguments). */
export function mmdebstrapArgs(spec: RootfsSpec, options: readonly string[], sourceFiles: readonly string[], target: string): string[] {
  return [
    `--variant=${spec.variant}`,
    `--include=${spec.packages.join(",")}`,
    "--format=tar",
    ...options.map((o) => `--aptopt=${o}`),
    ...spec.dpkgOptions.map((o) => `--dpkgopt=${o}`),
    spec.suite,
    target,
    ...sourceFiles,
  ];
}

export interface RootfsLayer {
  /** The layer tar. */
  path: string;
  key: string;
  /** True when it was built by this call. */
  built: boolean;
}

/** The rootfs layer tar for `spec`, built with mmdebstrap when the cache lacks it. */
export async function ensureRootfsLayer(opts: { spec?: RootfsSpec; progress?: Progress } = {}): Promise<RootfsLayer> {
  const spec = opts.spec ?? rootfsSpec;
  const progress = opts.progress ?? (() => {});
  const apt = await readHostApt();
  checkSourcesCarry(spec.suite, apt);
  const key = rootfsKey(spec, apt);
  const dir = path.join(imageCacheRoot(), "rootfs");
  const out = path.join(dir, `${spec.suite}-${key}.tar`);
  if (await exists(out)) return { path: out, key, built: false };
  return withCacheLock(out, progress, async () => {
    if (await exists(out)) return { path: out, key, built: false };
    await fs.mkdir(dir, { recursive: true });
    const work = await fs.mkdtemp(path.join(dir, "work-"));
    try {
      // Each host sources file keeps its name's extension: mmdebstrap reads deb822 from `.sources` content.
      const files: string[] = [];
      for (const [i, s] of apt.sources.entries()) {
        const f = path.join(work, `${i}-${path.basename(s.file)}`);
        await fs.writeFile(f, s.content);
        files.push(f);
      }
      const tmp = path.join(work, "rootfs.tar");
      const started = Date.now();
      progress(`rootfs: mmdebstrap ${spec.suite} ${spec.variant} + ${spec.packages.join(", ")} from this machine's apt sources ...`);
      await runStep("rootfs: mmdebstrap", "mmdebstrap", mmdebstrapArgs(spec, apt.options, files, tmp), { progress }).catch((err: Error) => {
        const missing = /cannot start mmdebstrap/.test(err.message) ? "\ninstall it with: apt-get install -y mmdebstrap" : "";
        throw new ImageBuildError(err.message + missing);
      });
      await fs.rename(tmp, out);
      progress(`rootfs: built in ${fmtSeconds(Date.now() - started)}, ${fmtMiB((await fs.stat(out)).size)}`);
      await pruneOthers(dir, path.basename(out));
      return { path: out, key, built: true };
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/** Keep the two newest rootfs tars besides the current one: sources change rarely, each tar is large. */
async function pruneOthers(dir: string, current: string): Promise<void> {
  const tars = (await fs.readdir(dir)).filter((n) => n.endsWith(".tar") && n !== current);
  const dated = await Promise.all(tars.map(async (n) => ({ n, t: (await fs.stat(path.join(dir, n))).mtimeMs })));
  for (const { n } of dated.sort((a, b) => b.t - a.t).slice(2)) await fs.rm(path.join(dir, n), { force: true });
}
