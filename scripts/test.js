#!/usr/bin/env node
// The test command (`npm test`): build, lint, ensure the pinned tools, unit tests, then integration and e2e
// tests against ONE shared local control plane that is always torn down.
//
//   node scripts/test.js [all|unit|integration|e2e]     (default: all)
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const phases = { all: ["unit", "integration", "e2e"], unit: ["unit"], integration: ["integration"], e2e: ["e2e"] };
const which = process.argv[2] || "all";
if (!phases[which]) {
  process.stderr.write(`usage: node scripts/test.js [${Object.keys(phases).join("|")}]\n`);
  process.exit(2);
}
const wanted = phases[which];
const needsCluster = wanted.some((p) => p !== "unit");

let current; // the child process running now, for SIGINT
let interrupted = false;
const totals = { pass: 0, fail: 0 };
const results = []; // { phase, pass, fail, code }

function say(line) {
  process.stderr.write(`\n== ${line}\n`);
}

/** Run a command with inherited stdio (or teed stdout when capture); resolves { code, stdout }. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env: opts.env || process.env, stdio: ["ignore", opts.capture ? "pipe" : "inherit", "inherit"] });
    current = child;
    let stdout = "";
    if (opts.capture) {
      child.stdout.on("data", (chunk) => {
        stdout += chunk.toString("utf8");
        process.stdout.write(chunk);
      });
    }
    child.on("error", reject);
    child.on("close", (code, signal) => {
      current = undefined;
      resolve({ code: code === null ? 128 + (os.constants.signals[signal] || 1) : code, stdout });
    });
  });
}

/** Test files under dir (recursively), sorted: Node 20's --test does not expand globs reliably. */
function testFiles(dir) {
  const out = [];
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if (err.code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith(".test.js")) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The runner's own summary counts (spec reporter: "ℹ pass N"). */
function counts(stdout) {
  const num = (key) => {
    const all = [...stdout.matchAll(new RegExp(`^\\S*\\s*${key} (\\d+)\\s*$`, "gm"))];
    return all.length ? Number(all[all.length - 1][1]) : undefined;
  };
  return { pass: num("pass"), fail: num("fail") };
}

async function step(name, cmd, args) {
  say(name);
  const { code } = await run(cmd, args);
  if (code !== 0) throw new Error(`${name} failed (exit ${code})`);
}

async function testPhase(phase, extraArgs, env) {
  const files = testFiles(path.join(root, "dist", "test", phase));
  if (files.length === 0) {
    say(`${phase} tests: none found under dist/test/${phase}, skipped`);
    return;
  }
  say(`${phase} tests (${files.length} file(s))`);
  const { code, stdout } = await run(process.execPath, ["--test", "--test-reporter=spec", ...extraArgs, ...files], { capture: true, env });
  const c = counts(stdout);
  // A runner that crashed before its summary, or exited non-zero with no failed test, still failed.
  const fail = c.fail ?? 0;
  const pass = c.pass ?? 0;
  const failed = fail + (code !== 0 && fail === 0 ? 1 : 0);
  totals.pass += pass;
  totals.fail += failed;
  results.push({ phase, pass, fail: failed, code });
}

async function main() {
  await step("typecheck + build: tsc -p tsconfig.json", "npx", ["tsc", "-p", "tsconfig.json"]);
  await step("lint: eslint .", "npx", ["eslint", "."]);
  if (needsCluster) await step("tools: mooring tools", process.execPath, [path.join(root, "bin", "mooring.js"), "tools"]);
  if (wanted.includes("unit")) await testPhase("unit", []);
  if (!needsCluster || interrupted) return;

  const { up, down } = require(path.join(root, "dist", "local", "controlplane.js"));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-test-"));
  const log = (line) => process.stderr.write(`   control plane: ${line}\n`);
  // Integration tests need a kwok node beside the real one (scale, scheduling); e2e runs on the real node.
  const nodes = wanted.includes("integration") ? 1 : 0;
  say(`control plane: up --dir ${dir} --nodes ${nodes}`);
  const started = Date.now();
  let ok = false;
  try {
    const cp = await up({ dir, nodes, log });
    say(`control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cp.apiserverUrl}`);
    const env = { ...process.env, MOORING_TEST_KUBECONFIG: cp.kubeconfigPath, MOORING_TEST_DIR: dir };
    for (const phase of ["integration", "e2e"]) {
      if (!wanted.includes(phase) || interrupted) continue;
      if (phase === "e2e" && cp.realNode) await realNodeOnly(cp);
      await testPhase(phase, ["--test-concurrency=1"], env);
    }
    ok = totals.fail === 0 && !interrupted;
  } finally {
    // On failure keep the components' logs (not the processes, not the data) for a look.
    say(`control plane: down${ok ? "" : " (logs kept in " + path.join(dir, "logs") + ")"}`);
    await down({ dir, keep: !ok, log });
    for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (ok || entry !== "logs") fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
    if (ok) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The e2e tests prove what a user sees: controllers and workloads running as pods. Pods without a node
 * selector prefer the kwok nodes, so those are cordoned before the e2e phase.
 */
async function realNodeOnly(cp) {
  const k8s = require("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const fake = cp.nodeNames.filter((n) => n !== cp.realNode.name);
  for (const name of fake) {
    await core.patchNode({ name, body: { spec: { unschedulable: true } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
  }
  if (fake.length) say(`e2e on the real node ${cp.realNode.name}: cordoned ${fake.join(", ")}`);
}

process.on("SIGINT", () => {
  interrupted = true;
  process.stderr.write("\ninterrupted: stopping tests, then the control plane\n");
  if (current) current.kill("SIGINT");
});

main().then(
  () => finish(),
  (err) => {
    process.stderr.write(`\n${err && err.stack ? err.stack : String(err)}\n`);
    totals.fail += results.length === 0 && totals.fail === 0 ? 1 : 0;
    finish(true);
  },
);

function finish(errored = false) {
  say("summary");
  for (const r of results) process.stdout.write(`${r.phase}: ℹ pass ${r.pass} ℹ fail ${r.fail}${r.code !== 0 ? ` (runner exit ${r.code})` : ""}\n`);
  process.stdout.write(`${totals.pass} passed, ${totals.fail} failed\n`);
  process.exitCode = errored || interrupted || totals.fail > 0 ? 1 : 0;
}
