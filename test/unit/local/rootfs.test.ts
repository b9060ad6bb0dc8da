import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { aptOptionsFrom, aptSuites, checkSourcesCarry, hasAptEntries, mmdebstrapArgs, readHostApt, rootfsKey, rootfsSpec, type HostApt } from "../../../local/rootfs";

const dump = [
  'APT "";',
  'APT::Architecture "amd64";',
  'Acquire::http::Proxy "http://127.0.0.1:3142";',
  'Acquire::Check-Valid-Until "false";',
  'Acquire::Check-Date "false";',
  'Acquire::IndexTargets::deb::Packages::MetaKey "$(COMPONENT)/binary-$(ARCHITECTURE)/Packages";',
  'Dir::Cache "var/cache/apt";',
].join("\n");

const apt: HostApt = {
  sources: [{ file: "/etc/apt/sources.list.d/debian.sources", content: "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n" }],
  options: aptOptionsFrom(dump),
};

describe("rootfs from this machine's apt configuration", () => {
  it("carries proxies and release-date checks, nothing else", () => {
    assert.deepEqual(aptOptionsFrom(dump), ['Acquire::Check-Date "false";', 'Acquire::Check-Valid-Until "false";', 'Acquire::http::Proxy "http://127.0.0.1:3142";']);
  });

  it("treats a sources file of comments only as empty", () => {
    assert.equal(hasAptEntries("# deb http://example.invalid bookworm main\n\n"), false);
    assert.equal(hasAptEntries("# mirror\ndeb http://deb.debian.org/debian bookworm main\n"), true);
  });

  it("keys the cache by packages, release, sources and options", () => {
    const key = rootfsKey(rootfsSpec, apt);
    assert.match(key, /^[0-9a-f]{20}$/);
    assert.equal(rootfsKey({ ...rootfsSpec }, { ...apt }), key, "stable for equal inputs");
    assert.notEqual(rootfsKey({ ...rootfsSpec, packages: [...rootfsSpec.packages, "curl"] }, apt), key);
    assert.notEqual(rootfsKey({ ...rootfsSpec, suite: "trixie" }, apt), key);
    assert.notEqual(rootfsKey(rootfsSpec, { ...apt, options: [] }), key);
    assert.notEqual(rootfsKey(rootfsSpec, { ...apt, sources: [{ ...apt.sources[0]!, content: apt.sources[0]!.content.replace("main", "main contrib") }] }), key);
  });

  it("builds with mmdebstrap: variant, packages, tar output, carried options, sources files last", () => {
    const args = mmdebstrapArgs(rootfsSpec, apt.options, ["/w/0-debian.sources"], "/w/rootfs.tar");
    assert.deepEqual(args.slice(0, 3), ["--variant=minbase", "--include=git,openssh-client,gpg,ca-certificates,tini", "--format=tar"]);
    assert.ok(args.includes('--aptopt=Acquire::Check-Valid-Until "false";'));
    assert.ok(args.includes("--dpkgopt=path-exclude=/usr/share/doc/*"));
    assert.deepEqual(args.slice(-3), ["bookworm", "/w/rootfs.tar", "/w/0-debian.sources"]);
  });

  it("finds the suites of one-line and deb822 sources, and refuses sources without the image's release", () => {
    assert.deepEqual(aptSuites(apt.sources[0]!), ["bookworm"]);
    assert.deepEqual(
      aptSuites({ file: "x.list", content: "deb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian bookworm-updates main\n# deb http://x trixie main\n" }),
      ["bookworm-updates"],
    );
    assert.deepEqual(aptSuites({ file: "y.sources", content: "Types: deb\nSuites: bookworm bookworm-updates\n" }), ["bookworm", "bookworm-updates"]);
    checkSourcesCarry("bookworm", apt);
    const trixie: HostApt = { sources: [{ file: "/etc/apt/sources.list.d/debian.sources", content: "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\n" }], options: [] };
    assert.throws(() => checkSourcesCarry("bookworm", trixie), /name the suites trixie, not bookworm: the images are Debian bookworm/);
  });

  it("reads sources.list and sources.list.d, skipping empty and other files", async () => {
    const etc = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-apt-"));
    try {
      await fs.mkdir(path.join(etc, "sources.list.d"));
      await fs.writeFile(path.join(etc, "sources.list"), "# moved to sources.list.d\n");
      await fs.writeFile(path.join(etc, "sources.list.d", "debian.sources"), apt.sources[0]!.content);
      await fs.writeFile(path.join(etc, "sources.list.d", "extra.list"), "deb http://deb.debian.org/debian bookworm-backports main\n");
      await fs.writeFile(path.join(etc, "sources.list.d", "old.list.disabled"), "deb http://example.invalid x main\n");
      const host = await readHostApt(etc);
      assert.deepEqual(
        host.sources.map((s) => path.basename(s.file)),
        ["debian.sources", "extra.list"],
      );
      await fs.rm(path.join(etc, "sources.list.d"), { recursive: true });
      await assert.rejects(readHostApt(etc), /no apt sources on this machine/);
    } finally {
      await fs.rm(etc, { recursive: true, force: true });
    }
  });
});
