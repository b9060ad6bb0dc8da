// The tag store keeps each repository's tags in its own file under the storage path: a new store on the same
// directory (a restarted controller) reads them back; nothing of it lives in the process between reads.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { TagStore } from "../../../controllers/imagereflector/tagstore";

test("tags survive a new store on the same directory, one file per repository", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-tags-"));
  try {
    const tags = Array.from({ length: 5000 }, (_, i) => `1.0.${i}`);
    await new TagStore(dir).set("registry.local:5000/team/app", tags);
    await new TagStore(dir).set("index.docker.io/library/nginx", []);
    const restarted = new TagStore(dir);
    assert.deepEqual(await restarted.get("registry.local:5000/team/app"), tags);
    assert.deepEqual(await restarted.get("index.docker.io/library/nginx"), []);
    assert.equal(await restarted.get("never/scanned"), undefined);
    assert.equal(fs.readdirSync(dir).length, 2);
    assert.ok(!fs.readdirSync(dir).some((f) => f.endsWith(".tmp")), "no temporary file is left");
    await restarted.remove("registry.local:5000/team/app");
    assert.equal(restarted.has("registry.local:5000/team/app"), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
