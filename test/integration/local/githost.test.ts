// The local git host binds the address it is given (the node's address lets pods reach it); loopback by default.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { createBareRepository, serveGit, startGitHttpServer } from "../../../local/githost";

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), "githost-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function pushOneCommit(bare: string): Promise<string> {
  const work = mkdtempSync(join(root, "work-"));
  await run("git", ["init", "-q", "-b", "main", work]);
  writeFileSync(join(work, "README"), "fleet\n");
  await run("git", ["-C", work, "add", "README"]);
  await run("git", ["-C", work, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "first"]);
  await run("git", ["-C", work, "push", "-q", bare, "main"]);
  return (await run("git", ["-C", work, "rev-parse", "HEAD"])).stdout.trim();
}

test("binds 127.0.0.1 by default and another address when given; clients fetch from the URL it reports", async () => {
  const bare = createBareRepository(root, "acme/fleet.git");
  const head = await pushOneCommit(bare);
  const loopback = await startGitHttpServer({ root });
  const other = await startGitHttpServer({ root, host: "127.0.0.2" });
  try {
    assert.match(loopback.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(other.url, /^http:\/\/127\.0\.0\.2:\d+$/);
    assert.equal((other.server.address() as { address: string }).address, "127.0.0.2");
    const refs = (await run("git", ["ls-remote", `${other.url}/acme/fleet.git`, "refs/heads/main"])).stdout;
    assert.equal(refs.split("\t")[0], head);
  } finally {
    await loopback.close();
    await other.close();
  }
});

test("serveGit binds the given address with basic auth", async () => {
  const server = await serveGit({ root, port: 0, username: "git", password: "s3cret", host: "127.0.0.3" });
  try {
    const { address, port } = server.address() as { address: string; port: number };
    assert.equal(address, "127.0.0.3");
    await assert.rejects(run("git", ["ls-remote", `http://127.0.0.3:${port}/acme/fleet.git`], { env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } }));
    const refs = (await run("git", ["ls-remote", `http://git:s3cret@127.0.0.3:${port}/acme/fleet.git`])).stdout;
    assert.match(refs, /refs\/heads\/main/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("refuses a host that is not an IP address, and names an address this machine does not have", async () => {
  await assert.rejects(startGitHttpServer({ root, host: "git.example" }), /bind address "git.example" must be an IP address of this machine/);
  // TEST-NET-1 (RFC 5737) is never assigned here; binding fails before anything is sent.
  await assert.rejects(serveGit({ root, port: 0, username: "u", password: "p", host: "192.0.2.10" }), /cannot listen on 192\.0\.2\.10:0: EADDRNOTAVAIL \(192\.0\.2\.10 is not an address of this machine/);
});
