// The dynamic providers as Pulumi writes them into the state: serialized without any path of this machine,
// and loading their implementation by package name from the directory the provider runs in.
import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { delegatingProvider, type ImplementationName } from "../../../provider/resources";
import { packageName } from "../../../provider/package";

// Compiled to dist/test/unit/provider: the repository root is four levels up.
const root = path.resolve(__dirname, "..", "..", "..", "..");
const names: ImplementationName[] = ["repository", "deploykey", "gitfiles", "install", "status"];

async function serialized(name: ImplementationName): Promise<string> {
  const provider = delegatingProvider(packageName, name);
  return (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
}

/** Evaluates serialized provider text as Pulumi's dynamic-provider host does, with `cwd` as its directory. */
function hostProvider(text: string, dir: string): pulumi.dynamic.ResourceProvider {
  const file = path.join(dir, `provider-${Math.random().toString(36).slice(2)}.js`);
  writeFileSync(file, text);
  const previous = process.cwd();
  process.chdir(dir);
  try {
    return (require(file) as { handler: () => pulumi.dynamic.ResourceProvider }).handler();
  } finally {
    process.chdir(previous);
  }
}

test("the serialized providers hold the package name and no path of the checkout", async () => {
  for (const name of names) {
    const text = await serialized(name);
    assert.ok(!text.includes(root), `${name}: the state would hold ${root}`);
    assert.ok(!text.includes(path.join("dist", "provider")), `${name}: the state would hold a dist path`);
    assert.match(text, new RegExp(`pkg: "${packageName}", name: "${name}"`));
  }
});

test("a project elsewhere loads the implementation from its own node_modules; without the package it fails by name", async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "mooring-provider-"));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const project = path.join(tmp, "project");
  mkdirSync(path.join(project, "node_modules"), { recursive: true });
  symlinkSync(root, path.join(project, "node_modules", packageName), "dir");
  const bare = path.join(tmp, "bare");
  mkdirSync(bare);

  const text = await serialized("repository");
  const olds = { owner: "acme", name: "fleet", token: "t", exists: true };
  const news = { owner: "other", name: "fleet", token: "t" };

  const previous = process.cwd();
  t.after(() => process.chdir(previous));
  process.chdir(project);
  const diff = await hostProvider(text, project).diff!("id", olds, news);
  assert.deepEqual(diff.replaces, ["owner"]);

  process.chdir(bare);
  await assert.rejects(hostProvider(text, bare).diff!("id", olds, news), new RegExp(`Cannot find module '${packageName}/provider/impl/repository'`));
});
