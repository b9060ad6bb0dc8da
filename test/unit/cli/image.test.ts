import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { imageCommand } from "../../../cli/image";

/** Run the command with stderr captured; the cases here fail before anything is built. */
async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await imageCommand(argv), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe("mooring image", () => {
  it("names the action it knows", async () => {
    const r = await run(["push"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown action "push"\nusage: mooring image build/);
    assert.equal((await run([])).code, 2);
  });

  it("refuses unknown flags, stray arguments and invalid tags before building", async () => {
    assert.match((await run(["build", "--push=yes"])).stderr, /unknown flag --push/);
    assert.match((await run(["build", "extra"])).stderr, /unexpected argument "extra"/);
    const bad = await run(["build", "--tag", "v1 beta"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--tag "v1 beta" is not a valid image tag/);
    assert.match((await run(["build", "--tag", ".hidden"])).stderr, /not a valid image tag/);
  });
});
