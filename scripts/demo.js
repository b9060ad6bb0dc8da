#!/usr/bin/env node
// `npm run demo`: Mooring end to end on this machine, in .mooring/demo (gitignored). Builds, resolves the
// pinned tools, starts the local cluster with its real node (the controllers and demo app images imported),
// a local git host seeded with examples/fleet on the address pods reach, runs `pulumi up` of examples/local
// (the controllers and the sample app run as pods), makes a day-2 commit and shows the cluster converge.
// Where the machine cannot run containers it says why and runs the controllers as local processes instead.
// Safe to run again: everything is reused or restarted in place.
"use strict";
const { execFileSync, spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");

const root = path.resolve(__dirname, "..");
const dir = path.join(root, ".mooring", "demo");
const t0 = Date.now();
const since = (t) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
const say = (line) => process.stdout.write(`\x1b[1m==>\x1b[0m ${line}\n`);
const info = (line) => process.stdout.write(`    ${line}\n`);

function build() {
  say("building (tsc)");
  execFileSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(root, "tsconfig.json")], { stdio: "inherit", cwd: root });
}

const gitEnv = { ...process.env, GIT_AUTHOR_NAME: "Mooring Demo", GIT_AUTHOR_EMAIL: "demo@mooring.invalid", GIT_COMMITTER_NAME: "Mooring Demo", GIT_COMMITTER_EMAIL: "demo@mooring.invalid", GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" };
const git = (cwd, ...args) => execFileSync("git", args, { cwd, env: gitEnv, encoding: "utf8" }).trim();

/** The bare repository, seeded with examples/fleet on first use. */
function ensureRepository(gitRoot) {
  const bare = path.join(gitRoot, "fleet.git");
  if (fs.existsSync(bare)) return bare;
  fs.mkdirSync(gitRoot, { recursive: true });
  git(gitRoot, "init", "-q", "--bare", "-b", "main", bare);
  git(bare, "config", "http.receivepack", "true");
  const work = fs.mkdtempSync(path.join(dir, "seed-"));
  git(work, "init", "-q", "-b", "main");
  fs.cpSync(path.join(root, "examples", "fleet"), work, { recursive: true });
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "Fleet from examples/fleet");
  git(work, "push", "-q", bare, "main");
  fs.rmSync(work, { recursive: true, force: true });
  info(`seeded ${bare} with examples/fleet`);
  return bare;
}

async function waitListening(host, port, ms) {
  const net = require("node:net");
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, host, () => (c.destroy(), resolve(true)));
      c.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the git host did not listen on ${host}:${port}; see ${path.join(dir, "git-host.log")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The git host on `host` (the node address when pods must reach it); restarted when the address changed. */
async function ensureGitHost(gitRoot, host) {
  const { readExtras, extraRunning, recordExtra } = require(path.join(root, "dist", "local", "extras.js"));
  const { preferPort } = require(path.join(root, "dist", "local", "ports.js"));
  const { spawnDetached } = require(path.join(root, "dist", "local", "processes.js"));
  const passwordFile = path.join(dir, "git-password");
  if (!fs.existsSync(passwordFile)) fs.writeFileSync(passwordFile, crypto.randomBytes(12).toString("hex") + "\n", { mode: 0o600 });
  const password = fs.readFileSync(passwordFile, "utf8").trim();
  const known = (await readExtras(dir)).find((p) => p.name === "git-host");
  const hostFile = path.join(dir, "git-address");
  const knownHost = fs.existsSync(hostFile) ? fs.readFileSync(hostFile, "utf8").trim() : "127.0.0.1";
  if (known && (await extraRunning(known))) {
    const port = Number(fs.readFileSync(path.join(dir, "git-port"), "utf8"));
    if (knownHost === host) {
      info(`git host already running (pid ${known.pid}) on ${host}:${port}`);
      return { url: `http://${host}:${port}/fleet.git`, password };
    }
    const { stopExtra } = require(path.join(root, "dist", "local", "extras.js"));
    await stopExtra(dir, "git-host");
  }
  // Keep the port of an earlier run when it is free, so the repository URL in the Pulumi stack stays the same.
  const portFile = path.join(dir, "git-port");
  const earlier = fs.existsSync(portFile) ? Number(fs.readFileSync(portFile, "utf8")) : undefined;
  const port = await preferPort(earlier);
  const script = path.join(root, "dist", "local", "githost.js");
  const log = path.join(dir, "git-host.log");
  const args = [script, "--root", gitRoot, "--host", host, "--port", String(port), "--user", "fleet", "--password-file", passwordFile];
  const spawned = spawnDetached(process.execPath, args, log);
  await recordExtra(dir, { name: "git-host", pid: spawned.pid, binary: process.execPath, marker: script, log, startedAt: new Date().toISOString() });
  fs.writeFileSync(portFile, String(port));
  fs.writeFileSync(hostFile, host);
  await waitListening(host, port, 10_000);
  info(`git host (smart HTTP, basic auth) pid ${spawned.pid} on ${host}:${port}; log ${log}`);
  return { url: `http://${host}:${port}/fleet.git`, password };
}

/** Run pulumi with its output streamed, indented. */
async function runPulumi(ws, args) {
  const { pulumiEnv } = require(path.join(root, "dist", "local", "pulumi.js"));
  const { toolPath } = require(path.join(root, "dist", "local", "tools.js"));
  const bin = await toolPath("pulumi");
  const env = await pulumiEnv(ws, { NODE_NO_WARNINGS: "1" });
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["--non-interactive", ...args], { cwd: ws.programDir, env, stdio: ["ignore", "pipe", "pipe"] });
    const relay = (stream) => {
      let buf = "";
      stream.on("data", (d) => {
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop();
        for (const l of lines) if (l.trim() && !/^@ (updating|previewing)/.test(l.trim())) process.stdout.write(`    | ${l}\n`);
      });
    };
    relay(child.stdout);
    relay(child.stderr);
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`pulumi ${args.join(" ")} exited ${code}`))));
  });
}

async function main() {
  fs.mkdirSync(dir, { recursive: true });
  build();
  const { ensureTools } = require(path.join(root, "dist", "local", "tools.js"));
  const { up } = require(path.join(root, "dist", "local", "controlplane.js"));
  const { startLocalControllers } = require(path.join(root, "dist", "local", "controllers.js"));
  const { prepareStack, setConfig, stackOutputs } = require(path.join(root, "dist", "local", "pulumi.js"));
  const k8s = require("@kubernetes/client-node");

  say("resolving the pinned tools (built from Go modules the first time)");
  const { checkNodePrerequisites } = require(path.join(root, "dist", "local", "prereqs.js"));
  const readiness = await checkNodePrerequisites();
  const nodeTools = ["kubelet", "kube-proxy", "coredns"];
  const tools = await ensureTools({ progress: (l) => info(l), only: ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kustomize", "pulumi", "pulumi-language-nodejs", "pulumi-resource-kubernetes", ...(readiness.ok ? nodeTools : [])] });
  info(tools.map((t) => `${t.name} ${t.version ?? ""}`.trim()).join(", "));

  const t1 = Date.now();
  let cp;
  if (readiness.ok) {
    say("starting the local cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a real node: containerd, kubelet, kube-proxy, CoreDNS)");
    info("the controllers image and the demo app image are built offline (first time: a few minutes) and imported into the node");
    cp = await up({ dir, nodes: 0, realNode: true, log: (l) => info(l) });
  } else {
    say("starting the local control plane with 1 kwok node: this machine cannot run containers");
    for (const reason of readiness.reasons) info(`- ${reason}`);
    cp = await up({ dir, nodes: 1, realNode: false, log: (l) => info(l) });
  }
  const pods = Boolean(cp.realNode);
  info(`${cp.reused ? "reused" : "ready"} in ${since(t1)}: ${cp.apiserverUrl}${pods ? `, node ${cp.realNode.name}; pods reach this machine at ${cp.nodeAddress}` : ""}`);

  say(`starting the local git host, seeded with examples/fleet${pods ? " (on the node address, so source-controller's pod can clone)" : ""}`);
  const bare = ensureRepository(path.join(dir, "git"));
  const host = await ensureGitHost(path.join(dir, "git"), pods ? cp.nodeAddress : "127.0.0.1");

  say("pulumi up (examples/local: the Bootstrap component, local file backend)");
  if (pods) {
    info("The controllers run as the install's pods on the real node, each under its own ServiceAccount.");
  } else {
    info("Without a real node the installed Deployments never run: the same controllers run here as local");
    info("processes, each with its in-cluster ServiceAccount's identity (TokenRequest).");
  }
  const ws = { programDir: root, stateDir: path.join(dir, "pulumi"), stack: "demo" };
  await prepareStack(ws);
  for (const [k, v] of [["kubeconfig", cp.kubeconfigPath], ["gitUrl", host.url], ["gitUsername", "fleet"]]) await setConfig(ws, k, v);
  await setConfig(ws, "gitPassword", host.password, true);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const t2 = Date.now();
  let stopWatching = false;
  const controllers = (async () => {
    if (pods) return;
    for (;;) {
      if (stopWatching) return;
      try {
        await core.readNamespacedServiceAccount({ name: "kustomize-controller", namespace: "flux-system" });
        await core.readNamespacedServiceAccount({ name: "source-controller", namespace: "flux-system" });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await startLocalControllers({ dir, adminKubeconfig: cp.kubeconfigPath, log: (l) => info(l) });
  })();
  try {
    await runPulumi(ws, ["up", "--yes", "--skip-preview"]);
  } finally {
    stopWatching = true;
  }
  await controllers;
  const upTime = since(t2);
  info(`pulumi up done in ${upTime}`);
  const kubectl = tools.find((t) => t.name === "kubectl")?.path ?? "kubectl";
  if (pods) {
    say("pods (kubectl get pods -A)");
    const shown = execFileSync(kubectl, ["--kubeconfig", cp.kubeconfigPath, "get", "pods", "-A", "-o", "wide"], { encoding: "utf8" });
    for (const l of shown.trimEnd().split("\n")) info(l);
  }

  say("stack outputs");
  const outputs = await stackOutputs(ws);
  for (const [k, v] of Object.entries(outputs)) info(`${k.padEnd(16)} ${typeof v === "string" ? v : JSON.stringify(v)}`);

  say("day-2: a commit to the fleet repository (apps/overlays/local: new message)");
  const work = fs.mkdtempSync(path.join(dir, "day2-"));
  git(work, "clone", "-q", bare, ".");
  const overlay = path.join(work, "apps", "overlays", "local", "kustomization.yaml");
  const message = `hello from the local fleet, ${new Date().toISOString()}`;
  fs.writeFileSync(overlay, fs.readFileSync(overlay, "utf8").replace(/message=.*/, `message=${message}`));
  git(work, "commit", "-q", "-am", "Day 2: new podinfo message");
  git(work, "push", "-q", "origin", "main");
  const sha = git(work, "rev-parse", "HEAD");
  fs.rmSync(work, { recursive: true, force: true });
  info(`pushed ${sha.slice(0, 12)}; asking for an immediate fetch (what \`flux reconcile source git flux-system\` does)`);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const t3 = Date.now();
  await custom.patchNamespacedCustomObject(
    { group: "source.toolkit.fluxcd.io", version: "v1", plural: "gitrepositories", namespace: "flux-system", name: "flux-system", body: { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": new Date().toISOString() } } } },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
  let lastLine = "";
  for (;;) {
    const cms = await core.listNamespacedConfigMap({ namespace: "podinfo" }).catch(() => ({ items: [] }));
    if (cms.items.some((c) => c.data?.message === message)) break;
    const k = await custom.getNamespacedCustomObject({ group: "kustomize.toolkit.fluxcd.io", version: "v1", plural: "kustomizations", namespace: "flux-system", name: "apps" }).catch(() => undefined);
    const line = `apps: ${k?.status?.lastAppliedRevision ?? "-"} ${(k?.status?.conditions ?? []).find((c) => c.type === "Ready")?.reason ?? ""}`;
    if (line !== lastLine) info(line);
    lastLine = line;
    if (Date.now() - t3 > 180_000) {
      const where = pods ? `\`${kubectl} --kubeconfig ${cp.kubeconfigPath} -n flux-system logs deploy/kustomize-controller\`` : ".mooring/demo/controllers/*.log";
      throw new Error(`the day-2 commit did not converge within 3 minutes; see ${where}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const convergeTime = since(t3);
  info(`converged: ConfigMap podinfo/podinfo-config-* has the new message, ${convergeTime} after the push`);

  say(`done in ${since(t0)} (pulumi up ${upTime}, day-2 commit → converged ${convergeTime})`);
  process.stdout.write(`
Look around:
  export KUBECONFIG=${cp.kubeconfigPath}
  ${kubectl} get pods -A${pods ? "                         # the controllers and the sample app, as pods" : ""}
  ${kubectl} get gitrepositories,kustomizations -A
  ${kubectl} -n podinfo get deploy,svc,cm
  $(npx mooring tools --path flux) get all -A        # the flux CLI works against Mooring's controllers
  ${pods ? `$(npx mooring tools --path flux) logs --all-namespaces   # the controllers' logs, read from their pods` : `tail -f ${path.join(dir, "controllers", "kustomize-controller.log")}`}
  git clone http://fleet:$(cat ${path.join(dir, "git-password")})@${host.url.replace("http://", "")}   # the fleet repository

Tear down (cluster, node, controllers and git host):
  node bin/mooring.js local down --dir ${path.relative(root, dir)} && rm -rf ${path.relative(root, dir)}

export KUBECONFIG=${cp.kubeconfigPath}
`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`demo failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
