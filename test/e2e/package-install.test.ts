// The package as users get it: `npm pack` of this checkout installed into a fresh Pulumi project (its own
// package.json, @pulumi/pulumi from the registry at the range the package asks for), `pulumi up` of a
// Bootstrap there on this machine's Node.js; then that project is deleted, and a second project at another
// path, with its own install and Node.js 24 (the controllers image's), takes over the copied state: refresh,
// preview with no changes, destroy.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { basicAuth, startGitHttpServer } from "../fixtures/github/git-http";
import { TestRepo } from "../fixtures/gitserver/repo";
import * as semver from "semver";
import { installPinnedPlugins, pinnedResourcePlugins, prepareStack, pulumi, setConfig, stackOutputs, type PulumiWorkspace } from "../../local/pulumi";
import { ensureNodeLayer } from "../../local/image";
import { projectRoot, toolsPathEnv } from "../../local/tools";
import { testKubeConfig } from "../harness/cluster";
import { kubeconfigPath, gitLog, gitShow, seedFleet } from "./helpers";
import { realNodeTarget } from "./pods";
import { packageVersion } from "../../provider/package";

const run = promisify(execFile);
const ns = "flux-system";
const stackName = "pkg";

/**
 * A user's program, plain JavaScript, using the package by its name. The cluster comes from another resource
 * in the same program (here one that reads the kubeconfig file, as a cluster resource returns its kubeconfig):
 * its output feeds the program's own kubernetes.Provider and the Bootstrap, in one \`pulumi up\`.
 */
const program = `"use strict";
const pulumi = require("@pulumi/pulumi");
const k8s = require("@pulumi/kubernetes");
const { Bootstrap } = require("mooring");

const config = new pulumi.Config();
const clusterProvider = {
  async create(inputs) {
    const kubeconfig = require("node:fs").readFileSync(inputs.path, "utf8");
    return { id: "cluster", outs: { path: inputs.path, kubeconfig } };
  },
};
class Cluster extends pulumi.dynamic.Resource {
  constructor(name, path) {
    super(clusterProvider, name, { path, kubeconfig: undefined }, { additionalSecretOutputs: ["kubeconfig"] });
  }
}
const cluster = new Cluster("cluster", config.require("kubeconfig"));
const provider = new k8s.Provider("cluster", { kubeconfig: cluster.kubeconfig });
const fleet = new Bootstrap("pkg", {
  cluster: { kubeconfig: cluster.kubeconfig, provider },
  git: {
    url: config.require("gitUrl"),
    path: "clusters/local",
    credentials: { username: config.require("gitUsername"), password: config.requireSecret("gitPassword") },
  },
  timeout: "4m",
});
exports.ready = fleet.ready;
exports.commit = fleet.commit;
exports.revision = fleet.revision;
`;

/** The same program in TypeScript, type-checked against the package's declarations as a user's editor would. */
const typedProgram = `import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { Bootstrap, type BootstrapArgs } from "mooring";

const config = new pulumi.Config();
const provider = new k8s.Provider("cluster", { kubeconfig: "kubeconfig" });
const args: BootstrapArgs = { cluster: { kubeconfig: "kubeconfig", provider }, git: { url: "http://127.0.0.1/fleet.git" } };
const fleet = new Bootstrap("pkg", args);
export const ready: pulumi.Output<boolean> = fleet.ready;
export const url: string = config.require("gitUrl");
`;

async function du(dir: string): Promise<string> {
  return (await run("du", ["-sh", dir])).stdout.split("\t")[0]!;
}

/** A fresh project directory: Pulumi.yaml, index.js and a package.json depending on the tarball; npm install. */
async function newProject(t: TestContext, dir: string, tarball: string, pulumiRange: string, kubernetesVersion: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  // The mooring provider plugin ships in the package; the project names where it is, as README shows.
  await fs.writeFile(
    path.join(dir, "Pulumi.yaml"),
    "name: mooring-package-e2e\nruntime: nodejs\ndescription: Bootstrap from the installed package\nplugins:\n  providers:\n    - name: mooring\n      path: ./node_modules/mooring/bin\n",
  );
  await fs.writeFile(path.join(dir, "index.js"), program);
  const pkg = { name: "mooring-package-e2e", private: true, main: "index.js", dependencies: { "@pulumi/pulumi": pulumiRange, "@pulumi/kubernetes": kubernetesVersion, mooring: `file:${tarball}` } };
  await fs.writeFile(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  const started = Date.now();
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir, maxBuffer: 16 << 20 });
  t.diagnostic(`${path.basename(dir)}: npm install ${((Date.now() - started) / 1000).toFixed(1)} s; node_modules ${await du(path.join(dir, "node_modules"))}, mooring ${await du(path.join(dir, "node_modules", "mooring"))}`);
}

/** Every installed copy of a package (path relative to node_modules), from `npm ls --all --parseable`. */
async function copiesOf(dir: string, name: string): Promise<string[]> {
  const out = await run("npm", ["ls", "--all", "--parseable", name], { cwd: dir }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }));
  return out.stdout
    .split("\n")
    .filter((l) => l.endsWith(`/node_modules/${name}`))
    .map((l) => path.relative(path.join(dir, "node_modules"), l));
}

test("the packed package in a fresh project: up on this Node.js; refresh, preview and destroy from another project on Node.js 24", { timeout: 1_800_000 }, async (t) => {
  const node = await realNodeTarget();
  if (typeof node === "string") {
    t.skip(node);
    return;
  }
  const started = Date.now();
  const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
  const apps = testKubeConfig().makeApiClient(k8s.AppsV1Api);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-e2e-package-"));
  // The stack that still holds the install when an assertion fails: destroyed so the cluster is left clean.
  let live: { ws: PulumiWorkspace; env: NodeJS.ProcessEnv } | undefined;
  t.after(async () => {
    if (live) await pulumi(live.ws, ["destroy", "--yes", "--skip-preview"], { env: live.env, timeoutMs: 600_000 }).catch((err: Error) => t.diagnostic(`cleanup destroy: ${err.message}`));
    await fs.rm(tmp, { recursive: true, force: true });
  });
  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  seedFleet(repo);
  const server = await startGitHttpServer({ host: node.nodeAddress, root: repo.root, authorize: basicAuth("fleet", "s3cret-pass") });
  t.after(() => server.close());

  // The tarball, as `npm publish` would upload it.
  const packed = JSON.parse((await run("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: projectRoot(), maxBuffer: 16 << 20 })).stdout) as { filename: string; size: number; unpackedSize: number; entryCount: number }[];
  const tarball = path.join(tmp, packed[0]!.filename);
  t.diagnostic(`npm pack: ${packed[0]!.filename} ${(packed[0]!.size / 1024).toFixed(0)} KiB, unpacked ${(packed[0]!.unpackedSize / 1048576).toFixed(1)} MiB, ${packed[0]!.entryCount} files`);
  const files = (await run("tar", ["-tzf", tarball])).stdout.split("\n");
  assert.ok(files.includes("package/dist/provider/index.js") && files.includes("package/dist/provider/index.d.ts"), "the component and its types are packed");
  assert.ok(!files.some((f) => f.startsWith("package/dist/test/") || f.endsWith(".map") || f.startsWith("package/node_modules/")), "no tests, source maps or node_modules in the package");

  const ownPackage = JSON.parse(await fs.readFile(path.join(projectRoot(), "package.json"), "utf8")) as { peerDependencies: Record<string, string> };
  const pulumiRange = ownPackage.peerDependencies["@pulumi/pulumi"]!;
  // The provider plugin is built offline at the pinned version, so the project pins its SDK to it (the SDK
  // asks the engine for the plugin of its own version); the package's peer range must admit it.
  const kubernetesVersion = pinnedResourcePlugins().find((p) => p.name === "kubernetes")!.version;
  assert.ok(semver.satisfies(kubernetesVersion, ownPackage.peerDependencies["@pulumi/kubernetes"]!), `@pulumi/kubernetes ${kubernetesVersion} within the peer range`);
  const first = path.join(tmp, "first");
  const second = path.join(tmp, "elsewhere", "second");
  const baseEnv = await toolsPathEnv();
  // The dynamic-provider plugin of the project's own @pulumi/pulumi first on PATH (the engine looks it up there).
  const pathOf = (project: string, ...dirs: string[]) => [...dirs, path.join(project, "node_modules", "@pulumi", "pulumi"), baseEnv.PATH ?? ""].join(path.delimiter);

  await newProject(t, first, tarball, pulumiRange, kubernetesVersion);
  assert.deepEqual(await copiesOf(first, "@pulumi/pulumi"), ["@pulumi/pulumi"], "exactly one @pulumi/pulumi, the project's");
  assert.deepEqual(await copiesOf(first, "@pulumi/kubernetes"), ["@pulumi/kubernetes"], "exactly one @pulumi/kubernetes, the project's");
  const sdk = JSON.parse(await fs.readFile(path.join(first, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8")) as { version: string };
  t.diagnostic(`@pulumi/pulumi ${sdk.version} (range ${pulumiRange})`);
  await fs.writeFile(path.join(first, "check.ts"), typedProgram);
  const tsc = path.join(projectRoot(), "node_modules", "typescript", "bin", "tsc");
  await run(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck", "--module", "node16", "--moduleResolution", "node16", "check.ts"], { cwd: first }).catch((err: { stdout?: string }) => {
    assert.fail(`a TypeScript program against the installed package does not type-check:\n${err.stdout ?? String(err)}`);
  });

  const stateA = path.join(tmp, "state-first");
  const wsA: PulumiWorkspace = { programDir: first, stateDir: stateA, stack: stackName };
  const envA = { PATH: pathOf(first) };
  await prepareStack(wsA);
  await setConfig(wsA, "kubeconfig", kubeconfigPath());
  await setConfig(wsA, "gitUrl", `${server.url}/fleet.git`);
  await setConfig(wsA, "gitUsername", "fleet");
  await setConfig(wsA, "gitPassword", "s3cret-pass", true);
  const before = gitLog(repo.bare).length;

  live = { ws: wsA, env: envA };
  const upStarted = Date.now();
  await pulumi(wsA, ["up", "--yes", "--skip-preview"], { env: envA, timeoutMs: 600_000 });
  t.diagnostic(`pulumi up (Node.js ${process.version}), empty cluster → Ready: ${((Date.now() - upStarted) / 1000).toFixed(1)} s`);
  const out = await stackOutputs(wsA);
  assert.equal(out.ready, true);
  assert.equal(out.revision, `main@sha1:${String(out.commit)}`);
  assert.equal(gitLog(repo.bare).length, before + 1, "one commit for the install");
  assert.ok((await core.listNamespacedPod({ namespace: ns, labelSelector: "app=kustomize-controller" })).items.length > 0, "the controllers run");

  const exported = (await pulumi(wsA, ["stack", "export"], { env: envA })).stdout;
  for (const where of [first, projectRoot(), tmp]) assert.ok(!exported.includes(where), `the state names ${where}`);
  // The objects Pulumi owns in the cluster are @pulumi/kubernetes resources under the program's own Provider.
  const resources = (JSON.parse(exported) as { deployment: { resources: { urn: string; type: string; provider?: string }[] } }).deployment.resources;
  for (const type of ["kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret"]) {
    const found = resources.find((r) => r.type === type);
    assert.ok(found, `the state has a ${type}`);
    assert.match(found.provider ?? "", /::pulumi:providers:kubernetes::cluster::/, `${type} goes through the program's kubernetes.Provider`);
  }
  assert.ok(!resources.some((r) => r.type === "pulumi:providers:kubernetes" && r.urn.includes("pkg-cluster")), "no Provider of the component's own beside the program's");
  // Typed resources of the mooring provider, not dynamic ones; the provider is recorded by name and version.
  const providerName = `default_${packageVersion.replace(/\./g, "_")}`;
  for (const type of ["GitFiles", "ClusterInstall", "SyncStatus"]) {
    const found = resources.find((r) => r.type === `mooring:index:${type}`);
    assert.ok(found, `the state has a mooring:index:${type}`);
    assert.ok((found.provider ?? "").includes(`::pulumi:providers:mooring::${providerName}::`), `${type} is served by the mooring provider plugin (${found.provider ?? "none"})`);
  }
  assert.ok(!resources.some((r) => r.type === "pulumi-nodejs:dynamic:Resource" && r.urn.includes("mooring:index:Bootstrap$")), "no dynamic resources in the component");

  // Another machine: the state copied to its own backend, the project at another path with its own install,
  // Node.js 24 for the language host and the dynamic providers. The first project is gone.
  const stateB = path.join(tmp, "state-second");
  await fs.cp(path.join(stateA, "backend"), path.join(stateB, "backend"), { recursive: true });
  await fs.mkdir(path.join(stateB, "home"), { recursive: true });
  await newProject(t, second, tarball, pulumiRange, kubernetesVersion);
  await fs.copyFile(path.join(first, `Pulumi.${stackName}.yaml`), path.join(second, `Pulumi.${stackName}.yaml`));
  live = undefined;
  await fs.rm(first, { recursive: true, force: true });
  const node24 = path.join(tmp, "node24");
  await fs.mkdir(node24);
  await run("tar", ["-xf", await ensureNodeLayer(), "-C", node24, "usr/local/bin/node"]);
  const node24Bin = path.join(node24, "usr", "local", "bin");
  const envB = { PATH: pathOf(second, node24Bin) };
  const nodeB = (await run("node", ["--version"], { env: { ...process.env, PATH: envB.PATH } })).stdout.trim();
  assert.match(nodeB, /^v24\./);

  const wsB: PulumiWorkspace = { programDir: second, stateDir: stateB, stack: stackName };
  await installPinnedPlugins(wsB);
  await pulumi(wsB, ["stack", "select", stackName], { env: envB });
  live = { ws: wsB, env: envB };
  t.diagnostic(`engine ${(await pulumi(wsB, ["version"])).stdout.trim()}`);
  await pulumi(wsB, ["refresh", "--yes", "--skip-preview"], { env: envB, timeoutMs: 300_000 });
  await pulumi(wsB, ["preview", "--expect-no-changes", "--diff"], { env: envB, timeoutMs: 300_000 });
  t.diagnostic(`refresh and preview --expect-no-changes from ${second} on Node.js ${nodeB}`);
  await pulumi(wsB, ["destroy", "--yes", "--skip-preview"], { env: envB, timeoutMs: 600_000 });
  live = undefined;
  assert.equal(gitShow(repo.bare, "clusters/local/flux-system/gotk-sync.yaml"), undefined, "destroy removed the files from git");
  const deployments = await apps.listNamespacedDeployment({ namespace: ns }).then((l) => l.items.map((d) => d.metadata?.name), () => []);
  assert.deepEqual(deployments, [], "destroy uninstalled the controllers");
  t.diagnostic(`whole test: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
