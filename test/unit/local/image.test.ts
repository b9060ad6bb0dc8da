import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { renderInstall } from "../../../bootstrap/manifests/install";
import { controllerEnv, controllerNodeFlags } from "../../../controllers/process";
import { demoAppPort } from "../../../local/demoapp/server";
import { controllersImageConfig, defaultControllersRef, defaultDemoAppRef, demoAppImageConfig, nodeVersion } from "../../../local/image";
import { rootfsSpec } from "../../../local/rootfs";
import { loadTools } from "../../../local/tools";

// Compiled to dist/test/unit/local: the repository root is four levels up.
const root = join(__dirname, "..", "..", "..", "..");
const dockerfile = readFileSync(join(root, "bootstrap", "Dockerfile"), "utf8");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };

/** The runtime stage of the Dockerfile (from its last FROM on). */
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));

function dockerfileEnv(): Map<string, string> {
  const env = new Map<string, string>();
  for (const m of runtimeStage.matchAll(/^ENV (.*)$/gm)) {
    for (const pair of m[1]!.trim().split(/\s+/)) {
      const eq = pair.indexOf("=");
      env.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  return env;
}

function configEnv(entries: readonly string[]): Map<string, string> {
  return new Map(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

describe("the offline controllers image and bootstrap/Dockerfile describe the same image", () => {
  const config = controllersImageConfig();

  it("has the same entrypoint: tini, node with the memory flags, the controllers entry", () => {
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(runtimeStage)![1]!;
    assert.deepEqual(JSON.parse(entry), config.entrypoint);
    assert.deepEqual(config.entrypoint, ["/usr/bin/tini", "--", "node", ...controllerNodeFlags, "dist/controllers/main.js"]);
  });

  it("has the same environment (the base image's PATH aside), with HOME on the writable /tmp", () => {
    const env = configEnv(config.env!);
    assert.equal(env.get("PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    env.delete("PATH");
    assert.deepEqual(Object.fromEntries(env), Object.fromEntries(dockerfileEnv()));
    assert.equal(env.get("HOME"), "/tmp");
    for (const [k, v] of Object.entries(controllerEnv)) assert.equal(env.get(k), v, k);
  });

  it("runs as the same non-root user in the same working directory", () => {
    assert.equal(config.user, /^USER (.*)$/m.exec(runtimeStage)![1]);
    assert.equal(config.user, "65534:65534");
    assert.equal(config.workingDir, /^WORKDIR (.*)$/m.exec(runtimeStage)![1]);
  });

  it("installs the same Debian packages on the same Debian release", () => {
    const install = /apt-get install -y --no-install-recommends ([^\n\\&]*)/.exec(runtimeStage)![1]!.trim().split(/\s+/);
    assert.deepEqual([...install].sort(), [...rootfsSpec.packages].sort());
    assert.match(runtimeStage, new RegExp(`^FROM node:\\$\\{NODE_VERSION\\}-${rootfsSpec.suite}-slim AS runtime$`, "m"));
  });

  it("carries the same Node.js major version", () => {
    const major = /^ARG NODE_VERSION=(\d+)$/m.exec(dockerfile)![1];
    assert.equal(major, nodeVersion.split(".")[0]);
    assert.equal(major, "24", "Node.js 24 LTS");
  });

  it("carries the pinned kustomize", () => {
    const pinned = loadTools().builds.kustomize!;
    assert.match(dockerfile, new RegExp(`^ARG KUSTOMIZE_VERSION=${pinned.moduleVersion.replace(/\./g, "\\.")}$`, "m"));
    assert.match(runtimeStage, /^COPY --from=kustomize \/go\/bin\/kustomize \/usr\/local\/bin\/kustomize$/m);
  });

  it("holds the same app files under the working directory", () => {
    const copies = [...runtimeStage.matchAll(/^COPY --from=build \/src\/(\S+) \.\/(\S+)$/gm)].map((m) => m[2]).sort();
    assert.deepEqual(copies, ["dist", "node_modules", "package.json"]);
  });
});

describe("image references", () => {
  it("the controllers image is named as the install renders it by default", () => {
    const objects = renderInstall({ crds: [], rbac: {} }, { version: pkg.version });
    const images = objects
      .filter((o) => o.kind === "Deployment")
      .map((o) => (o as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0]!.image);
    assert.ok(images.length > 0);
    for (const image of images) assert.equal(image, defaultControllersRef());
    assert.equal(defaultControllersRef(), `ghcr.io/mooring/controllers:v${pkg.version}`);
    assert.equal(defaultControllersRef("dev"), "ghcr.io/mooring/controllers:dev");
  });

  it("the example fleet runs the demo app image under its default reference", () => {
    const fleet = join(root, "examples", "fleet", "apps");
    const deployment = parseAllDocuments(readFileSync(join(fleet, "base", "podinfo", "deployment.yaml"), "utf8"))[0]!.toJS() as {
      spec: { template: { spec: { containers: { image: string; ports: { containerPort: number }[] }[] } } };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    const overlay = parseAllDocuments(readFileSync(join(fleet, "overlays", "local", "kustomization.yaml"), "utf8"))[0]!.toJS() as {
      images?: { name: string; newTag?: string }[];
    };
    const pin = overlay.images?.find((i) => i.name === container.image);
    const rendered = pin?.newTag ? `${container.image}:${pin.newTag}` : container.image;
    assert.equal(rendered, defaultDemoAppRef());
    assert.equal(container.ports[0]!.containerPort, demoAppPort);
  });
});

describe("demo app image", () => {
  it("runs the server as non-root on the controllers' base", () => {
    const config = demoAppImageConfig();
    assert.equal(config.user, "65534:65534");
    assert.deepEqual(config.entrypoint, ["/usr/bin/tini", "--", "node", "/app/server.js"]);
    assert.deepEqual(config.exposedPorts, [`${demoAppPort}/tcp`]);
    assert.ok(config.env!.includes("HOME=/tmp"));
  });
});
