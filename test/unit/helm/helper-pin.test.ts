import { test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadTools, projectRoot } from "../../../local/tools";

const root = projectRoot();

test("the Helm helper is built from our own module at the Helm version tools.json pins, in the image and the Dockerfile alike", () => {
  const spec = loadTools().builds["mooring-helm"]!;
  assert.equal(spec.source, "controllers/helm/helper");
  const goMod = readFileSync(join(root, spec.source!, "go.mod"), "utf8");
  assert.match(goMod, new RegExp(`^\\s*helm\\.sh/helm/v3 v${spec.version.replace(/\./g, "\\.")}\\b`, "m"));
  assert.ok(spec.ldflags.includes(`-X main.version=v${spec.version}`));
  const dockerfile = readFileSync(join(root, "bootstrap", "Dockerfile"), "utf8");
  assert.match(dockerfile, new RegExp(`^ARG HELM_VERSION=v${spec.version.replace(/\./g, "\\.")}$`, "m"));
  assert.match(dockerfile, /^COPY --from=helm \/go\/bin\/mooring-helm \/usr\/local\/bin\/mooring-helm$/m);
  const cli = loadTools().builds.helm;
  if (cli) assert.equal(cli.version, spec.version, "the helm CLI pin and the helper use the same Helm release");
});
