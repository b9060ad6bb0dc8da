import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { controllerEnv, controllerNodeFlags } from "../../../controllers/process";

// Compiled to dist/test/unit/bootstrap: the repository root is four levels up.
const root = join(__dirname, "..", "..", "..", "..");
const dockerfile = readFileSync(join(root, "bootstrap", "Dockerfile"), "utf8");
const tools = JSON.parse(readFileSync(join(root, "local", "tools.json"), "utf8")) as {
  builds: { kustomize: { module: string; moduleVersion: string } };
};

describe("bootstrap/Dockerfile", () => {
  it("builds the kustomize pinned in local/tools.json", () => {
    const { module, moduleVersion } = tools.builds.kustomize;
    assert.match(dockerfile, new RegExp(`^ARG KUSTOMIZE_VERSION=${moduleVersion.replace(/\./g, "\\.")}$`, "m"));
    assert.ok(dockerfile.includes(`${module}@\${KUSTOMIZE_VERSION}`), "go install of the pinned module");
    assert.match(dockerfile, /COPY --from=kustomize \/go\/bin\/kustomize \/usr\/local\/bin\/kustomize/);
  });

  it("builds with npm ci and tsc, and runs the controllers entry as a non-root user", () => {
    assert.match(dockerfile, /^FROM node:\$\{NODE_VERSION\}-bookworm AS build$/m);
    assert.match(dockerfile, /npm ci/);
    assert.match(dockerfile, /npx tsc -p tsconfig\.json/);
    assert.match(dockerfile, /apt-get install[^\n]* git openssh-client/);
    assert.match(dockerfile, /^USER 65534:65534$/m);
    assert.match(dockerfile, /^ENTRYPOINT \[.*"node", (".*", )?"dist\/controllers\/main\.js"\]$/m);
    const stages = [...dockerfile.matchAll(/^FROM .* AS (\w+)$/gm)].map((m) => m[1]);
    assert.deepEqual(stages, ["kustomize", "helm", "build", "runtime"]);
  });

  it("starts the controllers with the memory settings of controllers/process.ts", () => {
    const entry = /^ENTRYPOINT \[(.*)\]$/m.exec(dockerfile)![1]!.split(", ").map((x) => JSON.parse(x) as string);
    assert.deepEqual(entry.slice(entry.indexOf("node") + 1, -1), [...controllerNodeFlags]);
    for (const [k, v] of Object.entries(controllerEnv)) assert.match(dockerfile, new RegExp(`^ENV .*\\b${k}=${v}\\b`, "m"));
  });
});
