#!/usr/bin/env node
// Entry of the `mooring` command: runs the compiled CLI, compiling it first on a fresh clone.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

const root = path.resolve(__dirname, "..");
const entry = path.join(root, "dist", "cli", "main.js");
if (!fs.existsSync(entry)) {
  process.stderr.write("mooring: compiling (first run) ...\n");
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc", { paths: [root] }), "-p", path.join(root, "tsconfig.json")], {
    stdio: "inherit",
  });
}
require(entry).main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`mooring: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
