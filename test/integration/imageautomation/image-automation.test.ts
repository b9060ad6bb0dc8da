// The image controllers on the real control plane, each with its own ServiceAccount (the RBAC the install
// renders), against a real registry (Debian's docker-registry with htpasswd auth) and a real smart-HTTP git
// server: a pushed tag is scanned, chosen by the policy and committed at its marker; then each bad input
// (registry down, bad credentials, invalid semver range, malformed marker, a push the server refuses) gives a
// clear condition and leaves git as it was. The flux CLI reads and drives the objects.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import {
  imageAutomationControllerRbac,
  imageReflectorControllerRbac,
  ImagePolicyKind,
  ImageRepositoryKind,
  ImageUpdateAutomationKind,
  GitRepositoryKind,
  type ImagePolicy,
  type ImageRepository,
  type ImageUpdateAutomation,
} from "../../../controllers/api";
import { KubeClient, type ResourceRef } from "../../../controllers/runtime/kube";
import { newLogger } from "../../../controllers/runtime/log";
import { startControllers, type RunningControllers } from "../../../controllers/main";
import { newNamespace, serviceAccountKubeconfig, testKubeConfig, waitFor } from "../../harness/cluster";
import { toolPath } from "../../../local/tools";
import { startRegistry, type Registry } from "../../fixtures/registry/registry";
import { pushTags } from "../../fixtures/registry/push";
import { TestRepo } from "../../fixtures/gitserver/repo";
import { startHttpGitServer, type HttpGitServer } from "../../fixtures/gitserver/http";
import { apply, createSecret, installCrds } from "../source/env";

const run = promisify(execFile);
const creds = { username: "puller", password: "registry-pass-4471" };
const gitCreds = { username: "bot", password: "git-pass-9922" };
type Flux = ImageRepository | ImagePolicy | ImageUpdateAutomation;
const ready = (o: Flux) => o.status?.conditions?.find((c) => c.type === "Ready");

const deployment = (image: string, marker = '{"$imagepolicy": "NS:app"}') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app # the demo app
spec:
  template:
    spec:
      containers:
        - name: app
          image: "${image}" # ${marker}
          args: [--port, "8080"]
`;

describe("image automation (image.toolkit.fluxcd.io/v1)", () => {
  let admin: KubeClient;
  let ns: string;
  let ctlNs: string;
  let registry: Registry;
  let scratch: string;
  let repo: TestRepo;
  let http: HttpGitServer;
  let registryClosed = false;
  const stops: AbortController[] = [];
  const running: RunningControllers[] = [];
  const startController = async (controller: "image-reflector" | "image-automation", sa: string) => {
    const kc = await serviceAccountKubeconfig({ namespace: ctlNs, name: sa });
    const stop = new AbortController();
    stops.push(stop);
    const r = await startControllers(
      { controllers: [controller], kubeConfig: kc.kubeConfig, storagePath: path.join(scratch, "storage"), metricsAddr: "", healthAddr: "", concurrent: 2, logLevel: "silent", log: newLogger("silent") },
      stop.signal,
    );
    running.push(r);
    return { stop, done: r.done };
  };

  const applyAs = (ref: ResourceRef, obj: { metadata: { name: string } }) =>
    admin.patch(ref, ns, obj.metadata.name, obj, { contentType: "application/apply-patch+yaml", query: { fieldManager: "mooring-test", force: true } });
  const get = <T extends Flux>(ref: ResourceRef, name: string) => admin.get<T>(ref, ns, name);
  const waitCond = <T extends Flux>(ref: ResourceRef, name: string, status: "True" | "False", extra: (o: T) => boolean = () => true, timeoutMs = 60_000) =>
    waitFor(async () => {
      const o = await get<T>(ref, name);
      const r = ready(o);
      return r?.status === status && r.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
    }, { what: `${ref.kind} ${name} Ready=${status}`, timeoutMs, intervalMs: 250 });
  const remoteHead = () => execFileSync("git", ["rev-parse", "main"], { cwd: repo.bare, encoding: "utf8" }).trim();
  const commitToRemote = (files: Record<string, string>, message: string): string => {
    const work = fs.mkdtempSync(path.join(scratch, "work-"));
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@x.invalid", ...args], { cwd: work, encoding: "utf8" }).trim();
    git("clone", "-q", repo.bare, ".");
    for (const [p, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(work, p)), { recursive: true });
      fs.writeFileSync(path.join(work, p), content);
    }
    git("add", "-A");
    git("commit", "-q", "-m", message);
    git("push", "-q", "origin", "HEAD:main");
    return git("rev-parse", "HEAD");
  };
  const remoteFile = (p: string) => execFileSync("git", ["show", `main:${p}`], { cwd: repo.bare, encoding: "utf8" });

  before(async () => {
    admin = new KubeClient(testKubeConfig());
    await installCrds(admin);
    ctlNs = await newNamespace("mooring-image-ctl");
    ns = await newNamespace("mooring-image");
    for (const o of [...imageReflectorControllerRbac(ctlNs), ...imageAutomationControllerRbac(ctlNs)]) await apply(admin, o);
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-image-"));
    registry = await startRegistry(path.join(scratch, "registry"), { credentials: creds });
    repo = new TestRepo("fleet");
    http = await startHttpGitServer(repo.root, gitCreds);
    await startController("image-reflector", "image-reflector-controller");
    await startController("image-automation", "image-automation-controller");
    await createSecret(admin, ns, "registry", { ".dockerconfigjson": JSON.stringify({ auths: { [registry.host]: { username: creds.username, password: creds.password } } }) });
    await createSecret(admin, ns, "git", gitCreds);
    await applyAs(GitRepositoryKind.resource, { apiVersion: GitRepositoryKind.apiVersion, kind: "GitRepository", metadata: { name: "fleet", namespace: ns }, spec: { url: `${http.url}/fleet.git`, interval: "10m", ref: { branch: "main" }, secretRef: { name: "git" } } } as never);
  });

  after(async () => {
    for (const stop of stops) stop.abort();
    await Promise.all(running.map((r) => r.done));
    if (!registryClosed) await registry?.close();
    await http?.close();
    repo?.cleanup();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  const imageRepository = (name: string, spec: Partial<ImageRepository["spec"]>) =>
    applyAs(ImageRepositoryKind.resource, { apiVersion: ImageRepositoryKind.apiVersion, kind: "ImageRepository", metadata: { name, namespace: ns }, spec: { image: `${registry.host}/team/app`, interval: "10m", insecure: true, secretRef: { name: "registry" }, ...spec } } as never);
  const imagePolicy = (name: string, spec: Partial<ImagePolicy["spec"]>, labels: Record<string, string> = { auto: "yes" }) =>
    applyAs(ImagePolicyKind.resource, { apiVersion: ImagePolicyKind.apiVersion, kind: "ImagePolicy", metadata: { name, namespace: ns, labels }, spec: { imageRepositoryRef: { name: "app" }, policy: { semver: { range: ">=1.0.0" } }, ...spec } } as never);
  const automation = (name: string, spec: Partial<ImageUpdateAutomation["spec"]>) =>
    applyAs(ImageUpdateAutomationKind.resource, {
      apiVersion: ImageUpdateAutomationKind.apiVersion,
      kind: "ImageUpdateAutomation",
      metadata: { name, namespace: ns },
      spec: {
        sourceRef: { kind: "GitRepository", name: "fleet" },
        interval: "10m",
        git: { commit: { author: { name: "image bot", email: "bot@example.invalid" }, messageTemplate: "{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }}\n{{ end }}" }, push: { branch: "main" } },
        update: { path: "./apps", strategy: "Setters" },
        policySelector: { matchLabels: { auto: "yes" } },
        ...spec,
      },
    } as never);
  const requestReconcile = (ref: ResourceRef, name: string) => admin.patch(ref, ns, name, { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": `${Date.now()}` } } });

  test("a pushed tag is scanned, chosen, and committed at its marker; no commit when nothing changed", async () => {
    repo.commit({ "apps/deploy.yaml": deployment(`${registry.host}/team/app:1.2.2`).replace("NS", ns), "README.md": "fleet\n" }, "init");
    await pushTags(registry.host, "team/app", ["1.2.2", "1.2.3", "latest", "1.2.3.sig"], { credentials: creds });
    await imageRepository("app", {});
    const scanned = await waitCond<ImageRepository>(ImageRepositoryKind.resource, "app", "True");
    assert.equal(scanned.status?.canonicalImageName, `${registry.host}/team/app`);
    assert.equal(scanned.status?.lastScanResult?.tagCount, 3, "the .sig tag is excluded by default");
    assert.deepEqual(scanned.status?.lastScanResult?.latestTags, ["latest", "1.2.3", "1.2.2"]);
    assert.equal(ready(scanned)?.message, "successful scan: found 3 tags");

    await imagePolicy("app", { digestReflectionPolicy: "IfNotPresent" });
    const policy = await waitCond<ImagePolicy>(ImagePolicyKind.resource, "app", "True", (p) => p.status?.latestRef?.tag === "1.2.3");
    assert.equal(policy.status?.latestRef?.name, `${registry.host}/team/app`);
    assert.match(policy.status?.latestRef?.digest ?? "", /^sha256:[0-9a-f]{64}$/);

    await automation("auto", {});
    const first = await waitCond<ImageUpdateAutomation>(ImageUpdateAutomationKind.resource, "auto", "True", (a) => !!a.status?.lastPushCommit);
    assert.equal(first.status?.lastPushCommit, remoteHead());
    assert.equal(remoteFile("apps/deploy.yaml"), deployment(`${registry.host}/team/app:1.2.3@${policy.status!.latestRef!.digest}`).replace("NS", ns));
    assert.deepEqual(Object.keys(first.status?.observedPolicies ?? {}), ["app"]);

    // Without digests the marker gets name:tag; a new tag flows through.
    await imagePolicy("app", { digestReflectionPolicy: "Never" });
    await pushTags(registry.host, "team/app", ["1.2.4"], { credentials: creds });
    await requestReconcile(ImageRepositoryKind.resource, "app");
    await waitCond<ImagePolicy>(ImagePolicyKind.resource, "app", "True", (p) => p.status?.latestRef?.tag === "1.2.4" && !p.status.latestRef.digest);
    const expected = deployment(`${registry.host}/team/app:1.2.4`).replace("NS", ns);
    await waitFor(() => remoteFile("apps/deploy.yaml") === expected, { what: "the 1.2.4 commit on main", timeoutMs: 60_000, intervalMs: 250 });
    const second = await waitCond<ImageUpdateAutomation>(ImageUpdateAutomationKind.resource, "auto", "True", (a) => a.status?.lastPushCommit === remoteHead());
    assert.notEqual(second.status?.lastPushCommit, first.status?.lastPushCommit);
    const message = execFileSync("git", ["log", "-1", "--format=%B", "main"], { cwd: repo.bare, encoding: "utf8" }).trim();
    assert.match(message, new RegExp(`^${registry.host}/team/app:1\\.2\\.3(@sha256:[0-9a-f]{64})? -> ${registry.host}/team/app:1\\.2\\.4$`));
    assert.deepEqual(second.status?.observedPolicies?.app, { name: `${registry.host}/team/app`, tag: "1.2.4" });

    const head = remoteHead();
    await requestReconcile(ImageUpdateAutomationKind.resource, "auto");
    await waitCond<ImageUpdateAutomation>(ImageUpdateAutomationKind.resource, "auto", "True", (a) => ready(a)?.message === "repository up-to-date");
    assert.equal(remoteHead(), head, "no commit when nothing changed");
  });

  test("flux get images all / flux reconcile image repository|update", async () => {
    const flux = await toolPath("flux");
    const env = { ...process.env, KUBECONFIG: process.env.MOORING_TEST_KUBECONFIG! };
    const got = await run(flux, ["get", "images", "all", "-n", ns], { env });
    assert.match(got.stdout, /imagerepository\/app\s+.*True/);
    assert.match(got.stdout, /imagepolicy\/app\s+.*1\.2\.4/);
    assert.match(got.stdout, /imageupdateautomation\/auto\s+.*True/);
    const r1 = await run(flux, ["reconcile", "image", "repository", "app", "-n", ns, "--timeout=60s"], { env });
    assert.match(r1.stdout + r1.stderr, /✔ scan fetched 4 tags/);
    const r2 = await run(flux, ["reconcile", "image", "update", "auto", "-n", ns, "--timeout=60s"], { env });
    const out2 = (r2.stdout + r2.stderr).trim().split("\n");
    assert.match(out2.join("\n"), /waiting for ImageUpdateAutomation reconciliation/);
    assert.match(out2[out2.length - 1]!, /^✔ /, out2.join("\n"));
  });

  test("registry down and bad credentials are clear conditions", async () => {
    await imageRepository("down", { image: "127.0.0.1:9/team/app", secretRef: undefined });
    const down = await waitCond<ImageRepository>(ImageRepositoryKind.resource, "down", "False");
    assert.equal(ready(down)?.reason, "ReadOperationFailed");
    assert.match(ready(down)!.message, /failed to list tags of '127\.0\.0\.1:9\/team\/app': .*ECONNREFUSED/);
    await createSecret(admin, ns, "wrong", { ".dockerconfigjson": JSON.stringify({ auths: { [registry.host]: { username: creds.username, password: "not-the-password" } } }) });
    await imageRepository("badcreds", { secretRef: { name: "wrong" } });
    const bad = await waitCond<ImageRepository>(ImageRepositoryKind.resource, "badcreds", "False");
    assert.equal(ready(bad)?.reason, "AuthenticationFailed");
    assert.match(ready(bad)!.message, /401 Unauthorized \(the registry refused the credentials\)/);
    assert.doesNotMatch(JSON.stringify(bad.status), /not-the-password/);
    await imageRepository("cloud", { provider: "gcp" });
    const cloud = await waitCond<ImageRepository>(ImageRepositoryKind.resource, "cloud", "False");
    assert.match(ready(cloud)!.message, /not supported by Mooring yet: provider 'gcp'/);
    assert.equal(cloud.status?.conditions?.find((c) => c.type === "Stalled")?.status, "True");
  });

  test("an invalid semver range stalls the policy", async () => {
    await imagePolicy("badrange", { policy: { semver: { range: ">=>1.0" } } }, {});
    const p = await waitCond<ImagePolicy>(ImagePolicyKind.resource, "badrange", "False");
    assert.equal(ready(p)?.reason, "InvalidPolicy");
    assert.match(ready(p)!.message, /invalid semver range '>=>1\.0'/);
    assert.equal(p.status?.conditions?.find((c) => c.type === "Stalled")?.status, "True");
  });

  test("a malformed marker fails the update and nothing is written to git", async () => {
    const head = commitToRemote({ "broken/a.yaml": deployment(`${registry.host}/team/app:1.0.0`).replace("NS", ns), "broken/b.yaml": deployment("x:1", '{"$imagepolicy": "no-namespace"}') }, "broken markers");
    await automation("broken", { update: { path: "./broken", strategy: "Setters" } });
    const a = await waitCond<ImageUpdateAutomation>(ImageUpdateAutomationKind.resource, "broken", "False");
    assert.equal(ready(a)?.reason, "UpdateFailed");
    assert.match(ready(a)!.message, /broken\/b\.yaml:10: malformed image policy marker 'no-namespace'/);
    assert.equal(remoteHead(), head);
  });

  test("a push the git server refuses is a clear condition and the branch stays as it was", async () => {
    const head = commitToRemote({ "refused/a.yaml": deployment(`${registry.host}/team/app:1.0.0`).replace("NS", ns) }, "refused");
    const hook = path.join(repo.bare, "hooks", "pre-receive");
    fs.writeFileSync(hook, "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n", { mode: 0o755 });
    try {
      await automation("refused", { update: { path: "./refused", strategy: "Setters" } });
      const a = await waitCond<ImageUpdateAutomation>(ImageUpdateAutomationKind.resource, "refused", "False");
      assert.equal(ready(a)?.reason, "GitOperationFailed");
      assert.match(ready(a)!.message, /push refused by the git server: .*pre-receive hook declined/);
      assert.doesNotMatch(ready(a)!.message, new RegExp(gitCreds.password));
      assert.equal(remoteHead(), head);
    } finally {
      fs.rmSync(hook);
    }
  });

  test("a restarted image-reflector keeps its scan results on disk: policies resolve without a rescan", async () => {
    const before = await get<ImageRepository>(ImageRepositoryKind.resource, "app");
    // The registry goes away: a rescan could only fail.
    await registry.close();
    registryClosed = true;
    const first = running[0]!;
    stops[0]!.abort();
    await first.done;
    await startController("image-reflector", "image-reflector-controller");
    await imagePolicy("app", { policy: { semver: { range: "<1.2.4" } }, digestReflectionPolicy: "Never" });
    const p = await waitCond<ImagePolicy>(ImagePolicyKind.resource, "app", "True", (x) => x.status?.latestRef?.tag === "1.2.3");
    assert.equal(p.status?.observedPreviousRef?.tag, "1.2.4");
    const after = await get<ImageRepository>(ImageRepositoryKind.resource, "app");
    assert.equal(after.status?.lastScanResult?.scanTime, before.status?.lastScanResult?.scanTime, "no rescan after the restart");
    assert.equal(ready(after)?.status, "True");
  });
});
