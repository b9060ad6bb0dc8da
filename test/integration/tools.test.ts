import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { projectRoot } from "../../local/tools";

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

  const pulumi = (await run(process.execPath, [mooring, "tools", "--path", "pulumi"])).stdout.trim();
  assert.match((await run(pulumi, ["version"], { env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } })).stdout, /^v3\.65\.1/);
});

test("mooring tools --path rejects an unknown tool with the list of known ones", async () => {
  await assert.rejects(run(process.execPath, [mooring, "tools", "--path", "no-such-tool"]), (err: { stderr?: string }) => {
    assert.match(err.stderr ?? "", /unknown tool "no-such-tool"; known: etcd, kube-apiserver/);
    return true;
  });
});
