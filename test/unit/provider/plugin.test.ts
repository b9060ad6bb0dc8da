// The mooring provider plugin: typed resources dispatched to their implementations, secrets unwrapped on the
// way in, and the executable the engine starts serving on the port it prints.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { implementationFor, mooringProvider, unwrapSecrets } from "../../../provider/plugin";
import { resourceTypeNames, typeToken } from "../../../provider/plugin-types";
import * as gitfiles from "../../../provider/impl/gitfiles";
import * as install from "../../../provider/impl/install";

// Compiled to dist/test/unit/provider: the repository root is four levels up.
const root = path.resolve(__dirname, "..", "..", "..", "..");
const secret = (value: unknown) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value });
const urn = (type: string, name = "x") => `urn:pulumi:dev::proj::mooring:index:Bootstrap$${type}::${name}`;

test("secrets arrive wrapped and reach the implementations as plain values, at any depth", () => {
  const wire = { token: secret("t0ken"), git: { credentials: secret({ kind: "basic", password: secret("p") }) }, list: [secret(1), 2], plain: "x" };
  assert.deepEqual(unwrapSecrets(wire), { token: "t0ken", git: { credentials: { kind: "basic", password: "p" } }, list: [1, 2], plain: "x" });
});

test("a URN's own type picks the implementation; a type the plugin does not serve is named with the ones it does", () => {
  assert.equal(implementationFor(urn(typeToken("GitFiles"))), gitfiles);
  assert.equal(implementationFor(`urn:pulumi:dev::proj::${typeToken("ClusterInstall")}::top`), install);
  for (const name of resourceTypeNames) assert.ok(implementationFor(urn(typeToken(name))));
  assert.throws(() => implementationFor(urn("mooring:index:Nope")), /no resource type "mooring:index:Nope" \(it serves mooring:index:GitHubRepository, .*mooring:index:SyncStatus\)/);
  assert.throws(() => implementationFor(urn("pulumi-nodejs:dynamic:Resource")), /no resource type/);
});

test("diff goes to the implementation with unwrapped secrets: another repository owner replaces it", async () => {
  const provider = mooringProvider();
  const olds = { owner: "acme", name: "fleet", token: secret("t"), exists: true };
  const news = { owner: "other", name: "fleet", token: secret("t") };
  const result = await provider.diff!("id", urn(typeToken("GitHubRepository")), olds, news);
  assert.equal(result.changes, true);
  assert.deepEqual(result.replaces, ["owner"]);
  const same = await provider.diff!("id", urn(typeToken("GitHubRepository")), olds, { owner: "acme", name: "fleet", token: secret("t") });
  assert.deepEqual(same.replaces ?? [], []);
});

test("bin/pulumi-resource-mooring serves and prints its port, as the engine expects of a plugin", async (t) => {
  const child = spawn(path.join(root, "bin", "pulumi-resource-mooring"), ["127.0.0.1:1"], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("\n")) resolve(out.trim());
    });
    child.on("exit", (code) => reject(new Error(`exited ${String(code)} before printing a port`)));
  });
  assert.match(port, /^\d+$/);
  assert.ok(Number(port) > 0 && Number(port) < 65536);
});
