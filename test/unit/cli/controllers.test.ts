// `mooring controllers` takes the same flags as the image's entry, from the same parser.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { controllerFlags, controllersUsage } from "../../../controllers/flags";

const mooring = path.resolve(__dirname, "../../../../bin/mooring.js");
const entry = path.resolve(__dirname, "../../../controllers/main.js");

const run = (file: string, args: string[]) => spawnSync(process.execPath, [file, ...args], { encoding: "utf8", timeout: 30_000, env: { PATH: process.env.PATH, HOME: process.env.HOME } });

describe("mooring controllers", () => {
  it("--help prints the parser's own flag table, the same as the entry's", () => {
    const cli = run(mooring, ["controllers", "--help"]);
    assert.equal(cli.status, 0);
    assert.equal(cli.stdout, controllersUsage());
    for (const f of controllerFlags) assert.ok(cli.stdout.includes(`--${f.name}`), `lists --${f.name}`);
    assert.equal(run(entry, ["--help"]).stdout, cli.stdout);
  });

  it("refuses a bad flag with its name and exit code 2, as the entry does", () => {
    const cli = run(mooring, ["controllers", "--enable-leader-election", "--log-level=loud"]);
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /mooring controllers: invalid argument "loud" for --log-level: must be one of trace, debug, info, error/);
  });

  it("accepts the args the install renders (no more 'needs a value' for a boolean)", () => {
    const cli = run(mooring, ["controllers", "--controllers=source", "--watch-all-namespaces=true", "--log-encoding=json", "--enable-leader-election", "--metrics-addr=0", "--health-addr=0", "--kubeconfig=/nonexistent/kubeconfig"]);
    assert.equal(cli.status, 1, cli.stderr);
    assert.doesNotMatch(cli.stderr, /needs a value/);
    assert.match(cli.stderr, /--kubeconfig \/nonexistent\/kubeconfig/);
  });
});
