import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { loadTools, projectRoot } from "../../local/tools";

const run = promisify(execFile);
const mooring = path.join(projectRoot(), "bin", "mooring.js");

test("mooring tools --check passes and --path names binaries that report the pinned versions", async () => {
  const check = await run(process.execPath, [mooring, "tools", "--check"]);
  assert.match(check.stdout, /all pinned tools are present/);

  const apiserver = (await run(process.execPath, [mooring, "tools", "--path", "kube-apiserver"])).stdout.trim();
  assert.ok(path.isAbsolute(apiserver));
  assert.match((await run(apiserver, ["--version"])).stdout, /Kubernetes v1\.34\./);

  const flux = (await run(process.execPath, [mooring, "tools", "--path", "flux"])).stdout.trim();
  assert.match((await run(flux, ["--version"])).stdout, /flux version 2\.7\./);

  // The engine reports exactly the version local/tools.json pins (a newer or older build would be a new pin).
  const pinned = loadTools().builds.pulumi?.version;
  assert.match(pinned ?? "", /^3\.\d+\.\d+$/);
  const pulumi = (await run(process.execPath, [mooring, "tools", "--path", "pulumi"])).stdout.trim();
  assert.equal((await run(pulumi, ["version"], { env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } })).stdout.trim(), `v${pinned}`);
});

test("mooring tools --path rejects an unknown tool with the list of known ones", async () => {
  await assert.rejects(run(process.execPath, [mooring, "tools", "--path", "no-such-tool"]), (err: { stderr?: string }) => {
    assert.match(err.stderr ?? "", /unknown tool "no-such-tool"; known: etcd, kube-apiserver/);
    return true;
  });
});
