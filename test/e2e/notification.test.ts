// The notification-controller as Flux runs it, on the real node: the default install's three controllers as
// pods from the image built offline, Flux's Services (notification-controller for events, webhook-receiver
// for webhooks). A push to the git server runs its post-receive hook, which calls the GitHub Receiver
// through the webhook-receiver Service with a real signature; the commit is applied without waiting for the
// hour-long interval. The kustomize-controller pod's events reach a generic Provider through an Alert.
import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { startGitHttpServer } from "../fixtures/github/git-http";
import { TestRepo } from "../fixtures/gitserver/repo";
import { defaultControllersRef, ensureControllersImage } from "../../local/image";
import { importImage } from "../../local/nodeimages";
import { renderInstallYaml } from "../../bootstrap";
import { installInputs } from "../../provider/impl/render";
import { KubeClient } from "../../controllers/runtime/kube";
import { GitRepositoryKind, KustomizationKind, receiverWebhookPath, AlertKind, ProviderKind, ReceiverKind, type Receiver } from "../../controllers/api";
import { newNamespace, testClusterDir, testKubeConfig, waitFor } from "../harness/cluster";
import { controllerPods, kubectl, podReady, realNodeTarget } from "./pods";
import { startNotificationSink } from "./notifysink";

const controllers = ["source-controller", "kustomize-controller", "notification-controller"];
const configMap = (ns: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\n  namespace: ${ns}\ndata:\n  value: "${value}"\n`;

/** A post-receive hook that signs a GitHub push payload with the Receiver's token and posts it to url. */
function postReceiveHook(url: string, token: string): string {
  return `#!/bin/sh
body='{"ref":"refs/heads/main","repository":{"full_name":"acme/fleet"}}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac '${token}' | sed 's/^.* //')
curl -s -o /dev/null --max-time 10 -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" -H 'Content-Type: application/json' --data "$body" '${url}'
`;
}

test("notification-controller on the real node: a push's webhook through the webhook-receiver Service applies the commit; events reach a Provider", { timeout: 900_000 }, async (t) => {
  const node = await realNodeTarget();
  if (typeof node === "string") {
    t.skip(node);
    return;
  }
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admin = new KubeClient(kc);
  const ns = await newNamespace(t);
  const tag = "v0.1.0-notification-e2e";
  const image = await ensureControllersImage({ ref: defaultControllersRef(tag) });
  await importImage(testClusterDir(), image.archive);

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-notify-e2e-"));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const install = path.join(dir, "install.yaml");
  await fs.writeFile(install, renderInstallYaml(installInputs(ns), { version: "0.1.0", namespace: ns, image: { tag }, imagePullPolicy: "Never", networkPolicy: false }));
  await kubectl(["apply", "--server-side", "--force-conflicts", "-f", install]);
  t.after(async () => {
    for (const name of controllers) await kubectl(["delete", "clusterrolebinding", `mooring-${name}-${ns}`, "--ignore-not-found"]).catch(() => undefined);
    await kubectl(["delete", "clusterrolebinding", `cluster-reconciler-${ns}`, "--ignore-not-found"]).catch(() => undefined);
  });
  await waitFor(
    async () => {
      for (const name of controllers) {
        const pods = await controllerPods(core, ns, name);
        if (pods.length !== 1 || !podReady(pods[0]!)) return false;
      }
      return true;
    },
    { what: "the three controllers' pods Ready", timeoutMs: 240_000, intervalMs: 500 },
  );
  const services = Object.fromEntries((await core.listNamespacedService({ namespace: ns })).items.map((s) => [s.metadata!.name!, s]));
  assert.deepEqual(services["notification-controller"]!.spec!.ports!.map((p) => [p.port, p.targetPort]), [[80, "http"]]);
  assert.deepEqual(services["webhook-receiver"]!.spec!.ports!.map((p) => [p.port, p.targetPort]), [[80, "http-webhook"]]);

  // Events out: kustomize-controller's pod → notification-controller Service → this generic endpoint.
  const sink = await startNotificationSink(node.nodeAddress);
  t.after(() => sink.close());
  await admin.create(ProviderKind.resource, ns, { apiVersion: ProviderKind.apiVersion, kind: "Provider", metadata: { name: "generic", namespace: ns }, spec: { type: "generic", address: sink.url } });
  await admin.create(AlertKind.resource, ns, { apiVersion: AlertKind.apiVersion, kind: "Alert", metadata: { name: "all", namespace: ns }, spec: { providerRef: { name: "generic" }, eventSources: [{ kind: "Kustomization", name: "*" }, { kind: "GitRepository", name: "*" }] } });

  const repo = new TestRepo("fleet");
  t.after(() => repo.cleanup());
  const first = repo.commit({ "config.yaml": configMap(ns, "0") }, "first");
  const git = await startGitHttpServer({ host: node.nodeAddress, root: repo.root });
  t.after(() => git.close());
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "webhook-token" }, stringData: { token: "e2e-receiver-token" } } });
  await admin.create(GitRepositoryKind.resource, ns, { apiVersion: GitRepositoryKind.apiVersion, kind: "GitRepository", metadata: { name: "fleet", namespace: ns }, spec: { url: `${git.url}/fleet.git`, interval: "1h", ref: { branch: "main" } } });
  await admin.create(KustomizationKind.resource, ns, { apiVersion: KustomizationKind.apiVersion, kind: "Kustomization", metadata: { name: "fleet", namespace: ns }, spec: { interval: "1h", path: "./", prune: true, sourceRef: { kind: "GitRepository", name: "fleet" } } });
  await admin.create(ReceiverKind.resource, ns, { apiVersion: ReceiverKind.apiVersion, kind: "Receiver", metadata: { name: "github", namespace: ns }, spec: { type: "github", events: ["push"], resources: [{ kind: "GitRepository", name: "fleet" }], secretRef: { name: "webhook-token" } } });
  const path_ = receiverWebhookPath("e2e-receiver-token", "github", ns);
  await waitFor(async () => (await admin.get<Receiver>(ReceiverKind.resource, ns, "github")).status?.webhookPath === path_, { what: "Receiver Ready with its webhook path", timeoutMs: 60_000 });
  const applied = async (value: string) => {
    try {
      return (await core.readNamespacedConfigMap({ name: "pushed", namespace: ns })).data?.value === value;
    } catch {
      return false;
    }
  };
  await waitFor(() => applied("0"), { what: `the first commit ${first} applied`, timeoutMs: 120_000, intervalMs: 200 });

  const receiverUrl = `http://${services["webhook-receiver"]!.spec!.clusterIP}${path_}`;
  await fs.writeFile(path.join(repo.bare, "hooks", "post-receive"), postReceiveHook(receiverUrl, "e2e-receiver-token"), { mode: 0o755 });
  const latencies: number[] = [];
  for (let i = 1; i <= 3; i++) {
    const pushed = Date.now();
    repo.commit({ "config.yaml": configMap(ns, String(i)) }, `commit ${i}`);
    await waitFor(() => applied(String(i)), { what: `commit ${i} applied through the webhook (the interval is 1h)`, timeoutMs: 60_000, intervalMs: 50 });
    latencies.push(Date.now() - pushed);
  }
  t.diagnostic(`push → applied through the Receiver webhook (shared machine): ${latencies.map((ms) => `${ms} ms`).join(", ")}`);
  const gitRepo = await admin.get<{ metadata: { annotations?: Record<string, string> } }>(GitRepositoryKind.resource, ns, "fleet");
  assert.ok(gitRepo.metadata.annotations?.["reconcile.fluxcd.io/requestedAt"], "the Receiver asked for the reconcile");

  const event = await waitFor(() => sink.events.find((e) => e.involvedObject.kind === "Kustomization" && e.involvedObject.namespace === ns && e.metadata?.revision), { what: "a Kustomization event at the generic provider", timeoutMs: 60_000 });
  assert.equal(event.reportingController, "kustomize-controller");
  assert.match(event.metadata!.revision!, /^main@sha1:[0-9a-f]{40}$/);
  assert.ok(sink.events.some((e) => e.involvedObject.kind === "GitRepository" && e.reportingController === "source-controller"), "source-controller's events arrive too");
});

