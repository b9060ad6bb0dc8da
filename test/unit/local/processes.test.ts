import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { processArgv, runsBinary, spawnDetached, startMarker, stopProcess, tailFile } from "../../../local/processes";
import { freePort, portFree, preferPort } from "../../../local/ports";
import * as net from "node:net";

describe("processes", () => {
  test("a detached process is found by pid and binary, stopped by SIGTERM, and its output is in its log", async (t) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-proc-"));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const log = path.join(dir, "sh.log");
    const sh = "/bin/sh";
    const p = spawnDetached(sh, ["-c", "echo started; exec sleep 60"], log);
    const sleeping = async () => (await processArgv(p.pid))?.[0] === "sleep";
    for (let i = 0; i < 100 && !(await sleeping()); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(await runsBinary(p.pid, "/usr/bin/sleep"), "matched by binary name");
    assert.equal(await runsBinary(p.pid, "/usr/bin/etcd"), false, "a pid running another binary is not ours");
    assert.equal(await stopProcess(p.pid, "/usr/bin/etcd"), "not running", "never signals a stranger");
    assert.equal(await stopProcess(p.pid, "/usr/bin/sleep"), "stopped");
    assert.equal(await processArgv(p.pid), undefined);
    assert.equal(await tailFile(log), "started");
  });

  test("tailFile returns the last lines only", async (t) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-tail-"));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, "x.log");
    await fs.writeFile(file, Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n") + "\n");
    assert.equal(await tailFile(file, 3), "line 47\nline 48\nline 49");
    assert.equal(await tailFile(path.join(dir, "missing.log")), "");
  });
});

describe("ports", () => {
  test("a free port is bindable and not handed out twice", async () => {
    const a = await freePort();
    const b = await freePort();
    assert.notEqual(a, b);
    assert.ok(await portFree(a));
  });

  test("a taken preferred port is replaced by a free one", async (t) => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => server.close());
    const taken = (server.address() as net.AddressInfo).port;
    const got = await preferPort(taken);
    assert.notEqual(got, taken);
    assert.ok(await portFree(got));
  });
});

test("tailFile starts at the latest start marker: an earlier run's lines are not this run's story", async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-tail-"));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "x.log");
  await fs.writeFile(file, startMarker("/bin/x", ["--a"]) + "old failure\n" + startMarker("/bin/x", ["--b"]) + "new 1\nnew 2\n");
  assert.equal(await tailFile(file), "new 1\nnew 2");
});
