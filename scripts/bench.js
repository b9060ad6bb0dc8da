#!/usr/bin/env node
// `npm run bench -- <benchmark> [flags]`: compiles when dist/ is missing or older than bench/, then runs
// dist/bench/main.js.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

const root = path.resolve(__dirname, "..");
const entry = path.join(root, "dist", "bench", "main.js");

function newestMtime(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

const stale = !fs.existsSync(entry) || newestMtime(path.join(root, "bench")) > fs.statSync(entry).mtimeMs;
if (stale) {
  process.stderr.write("bench: compiling ...\n");
  try {
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc", { paths: [root] }), "-p", path.join(root, "tsconfig.json")], { stdio: "inherit" });
  } catch {
    // tsc still emits on type errors elsewhere in the tree; run if the entry exists.
    if (!fs.existsSync(entry)) process.exit(1);
  }
}
require(entry).main(process.argv.slice(2)).then(
  (code) => {
    // Informers and sockets of finished runs may linger; the results are written, so leave now.
    process.exit(code);
  },
  (err) => {
    process.stderr.write(`bench: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
