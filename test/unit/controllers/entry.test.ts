// The image's entry as a process: `node dist/controllers/main.js ARGS` parses with the controllers' parser,
// exits 2 on a bad command line, and runs (here: fails to reach a cluster, with the reason) otherwise.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const entry = path.resolve(__dirname, "../../../controllers/main.js");

function runEntry(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [entry, ...args], { encoding: "utf8", timeout: 30_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("node dist/controllers/main.js", () => {
  it("prints every flag on --help and exits 0", () => {
    const r = runEntry(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--enable-leader-election/);
    assert.match(r.stdout, /--watch-all-namespaces/);
    assert.match(r.stdout, /--feature-gates/);
  });

  it("refuses an unknown flag by name with exit code 2", () => {
    const r = runEntry(["--enable-leader-election", "--bogus=1"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown flag: --bogus/);
    assert.equal(r.stdout, "");
  });

  it("accepts the install's args and starts: without a cluster it stops with exit 1 and says why, in Flux's JSON shape", () => {
    const r = runEntry(
      ["--controllers=kustomize", "--watch-all-namespaces=true", "--log-level=info", "--log-encoding=json", "--enable-leader-election", "--metrics-addr=127.0.0.1:0", "--health-addr=127.0.0.1:0", "--kubeconfig=/nonexistent/kubeconfig"],
      { RUNTIME_NAMESPACE: "flux-system" },
    );
    assert.equal(r.code, 1);
    const line = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, string>;
    assert.equal(line.level, "error");
    assert.match(line.error!, /--kubeconfig \/nonexistent\/kubeconfig: .*ENOENT/);
    assert.equal(line.msg, "controllers stopped with an error");
  });

  it("writes console lines with --log-encoding=console", () => {
    const r = runEntry(["--log-encoding=console", "--metrics-addr=0", "--health-addr=0", "--kubeconfig=/nonexistent/kubeconfig"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^\S+Z\tERROR\tcontrollers stopped with an error\terror: --kubeconfig/m);
  });

  it("is only a library when imported: requiring it starts nothing", () => {
    const r = spawnSync(process.execPath, ["-e", `const m = require(${JSON.stringify(entry)}); process.stdout.write(typeof m.main + " " + typeof m.startControllers)`], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0);
    assert.equal(r.stdout, "function function");
  });
});
