// The image automation loop as users run it, on the real node: source-, kustomize-, image-reflector- and
// image-automation-controller as the install's Deployments from the controllers image built offline; Debian's
// docker-registry and the local git host on the address pods reach; the demo app image built offline and
// tagged app:1.2.3 and app:1.2.4 on the node. A Kustomization deploys a Deployment whose image has a marker;
// pushing 1.2.4 to the registry makes the policy pick it, a commit land on the branch, and the pod run 1.2.4.
import { after, before, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KubeClient, type ResourceRef } from "../../controllers/runtime/kube";
import { GitRepositoryKind, ImagePolicyKind, ImageRepositoryKind, ImageUpdateAutomationKind, KustomizationKind } from "../../controllers/api";
import { installObjects } from "../../provider/impl/render";
import { toYamlStream } from "../../bootstrap/manifests/objects";
import { ensureControllersImage, ensureDemoAppImage } from "../../local/image";
import { importImage } from "../../local/nodeimages";
import { startGitHttpServer } from "../../local/githost";
import { projectRoot, toolPath } from "../../local/tools";
import { testClusterDir, testKubeConfig, waitFor } from "../harness/cluster";
import { startRegistry, type Registry } from "../fixtures/registry/registry";
import { pushTags } from "../fixtures/registry/push";
import { realNodeTarget } from "./pods";

const Deployments: ResourceRef = { kind: "Deployment", group: "apps", version: "v1", plural: "deployments", namespaced: true };
const Namespaces: ResourceRef = { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false };
const Pods: ResourceRef = { kind: "Pod", group: "", version: "v1", plural: "pods", namespaced: true };
const pkg = JSON.parse(readFileSync(path.join(projectRoot(), "package.json"), "utf8")) as { version: string };
const stamp = Date.now().toString(36);
const system = `image-e2e-system-${stamp}`;
const apps = `image-e2e-apps-${stamp}`;

function kubectl(args: string[], input?: string): Promise<string> {
  return toolPath("kubectl").then(
    (bin) =>
      new Promise((resolve, reject) => {
        const child = execFile(bin, ["--kubeconfig", process.env.MOORING_TEST_KUBECONFIG!, ...args], { maxBuffer: 16 << 20, timeout: 120_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr}`)) : resolve(stdout),
        );
        if (input !== undefined) child.stdin!.end(input);
      }),
  );
}

const deployment = (image: string, ns: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: ${ns}
spec:
  replicas: 1
  selector:
    matchLabels: { app: demo }
  template:
    metadata:
      labels: { app: demo }
    spec:
      nodeSelector: { type: real }
      containers:
        - name: app
          image: ${image} # {"$imagepolicy": "${system}:app"}
          imagePullPolicy: Never
          ports: [{ name: http, containerPort: 9898 }]
`;

let skip: string | undefined;
let registry: Registry | undefined;
let git: { url: string; close(): Promise<void> } | undefined;
let scratch = "";

before(async () => {
  const node = await realNodeTarget();
  if (typeof node === "string") {
    skip = node;
    return;
  }
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), "image-e2e-"));
  registry = await startRegistry(path.join(scratch, "registry"), { address: node.nodeAddress });
  const controllers = await ensureControllersImage();
  await importImage(testClusterDir(), controllers.archive);
  // The demo app, tagged as the registry's app:1.2.3 and app:1.2.4, is on the node already (no pulls offline).
  for (const tag of ["1.2.3", "1.2.4"]) await importImage(testClusterDir(), (await ensureDemoAppImage({ ref: `${registry.host}/team/app:${tag}` })).archive);
  const root = path.join(scratch, "git");
  await fs.mkdir(root);
  const run = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@x.invalid", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  run(root, "init", "-q", "--bare", "-b", "main", "fleet.git");
  run(path.join(root, "fleet.git"), "config", "http.receivepack", "true");
  const work = path.join(scratch, "work");
  await fs.mkdir(path.join(work, "apps"), { recursive: true });
  run(work, "init", "-q", "-b", "main");
  await fs.writeFile(path.join(work, "apps", "deploy.yaml"), deployment(`${registry.host}/team/app:1.2.3`, apps));
  run(work, "add", "-A");
  run(work, "commit", "-q", "-m", "app 1.2.3");
  run(work, "push", "-q", path.join(root, "fleet.git"), "main");
  git = await startGitHttpServer({ root, host: node.nodeAddress });
});

after(async () => {
  await registry?.close();
  await git?.close();
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
  const admin = new KubeClient(testKubeConfig());
  for (const ns of [apps, system]) await admin.delete(Namespaces, undefined, ns).catch(() => undefined);
});

it("a pushed tag becomes a commit, then a rollout: the pod runs app:1.2.4", { timeout: 900_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const admin = new KubeClient(testKubeConfig());
  const objects = installObjects({ version: pkg.version, namespace: system, controllers: ["source", "kustomize", "image-reflector", "image-automation"], networkPolicy: false });
  await kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=mooring-test", "-f", "-"], toYamlStream(objects));
  for (const name of ["source-controller", "kustomize-controller", "image-reflector-controller", "image-automation-controller"]) {
    await waitFor(async () => (await admin.get<{ status?: { readyReplicas?: number } }>(Deployments, system, name)).status?.readyReplicas === 1, { what: `${name} ready`, timeoutMs: 240_000 });
  }
  await admin.create(Namespaces, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: apps } });
  await pushTags(registry!.host, "team/app", ["1.2.3"]);
  const docs = [
    { apiVersion: GitRepositoryKind.apiVersion, kind: "GitRepository", metadata: { name: "fleet", namespace: system }, spec: { url: `${git!.url}/fleet.git`, interval: "10s", ref: { branch: "main" } } },
    { apiVersion: KustomizationKind.apiVersion, kind: "Kustomization", metadata: { name: "apps", namespace: system }, spec: { interval: "10m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" } } },
    { apiVersion: ImageRepositoryKind.apiVersion, kind: "ImageRepository", metadata: { name: "app", namespace: system }, spec: { image: `${registry!.host}/team/app`, interval: "10s", insecure: true } },
    { apiVersion: ImagePolicyKind.apiVersion, kind: "ImagePolicy", metadata: { name: "app", namespace: system }, spec: { imageRepositoryRef: { name: "app" }, policy: { semver: { range: ">=1.0.0" } } } },
    {
      apiVersion: ImageUpdateAutomationKind.apiVersion,
      kind: "ImageUpdateAutomation",
      metadata: { name: "fleet", namespace: system },
      spec: { interval: "10m", sourceRef: { kind: "GitRepository", name: "fleet" }, git: { commit: { author: { name: "image bot", email: "bot@example.invalid" } }, push: { branch: "main" } }, update: { path: "./apps", strategy: "Setters" } },
    },
  ];
  await kubectl(["apply", "--server-side", "--field-manager=mooring-test", "-f", "-"], toYamlStream(docs as never));
  const runningImage = async () => {
    const pods = await admin.list<{ metadata: { deletionTimestamp?: string }; spec: { containers: { image: string }[] }; status?: { phase?: string } }>(Pods, apps, { query: { labelSelector: "app=demo" } });
    const live = pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === "Running");
    return live.length === 1 ? live[0]!.spec.containers[0]!.image : undefined;
  };
  await waitFor(async () => (await runningImage()) === `${registry!.host}/team/app:1.2.3`, { what: "the pod runs app:1.2.3", timeoutMs: 240_000, intervalMs: 500 });

  await pushTags(registry!.host, "team/app", ["1.2.4"]);
  await waitFor(async () => (await runningImage()) === `${registry!.host}/team/app:1.2.4`, { what: "the pod runs app:1.2.4", timeoutMs: 240_000, intervalMs: 500 });
  const file = execFileSync("git", ["show", "main:apps/deploy.yaml"], { cwd: path.join(scratch, "git", "fleet.git"), encoding: "utf8" });
  assert.equal(file, deployment(`${registry!.host}/team/app:1.2.4`, apps));
  assert.equal(execFileSync("git", ["log", "-1", "--format=%an", "main"], { cwd: path.join(scratch, "git", "fleet.git"), encoding: "utf8" }).trim(), "image bot");
});
