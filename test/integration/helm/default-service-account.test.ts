// --default-service-account on a real apiserver: the helm-controller (its own ServiceAccount, which may do
// more) runs with the flag parsed from a command line; a HelmRelease without serviceAccountName acts as that
// ServiceAccount of its namespace, which may manage ConfigMaps and Secrets (Helm's release storage) and
// nothing else. An allowed chart installs; a chart with a Service fails with a message naming the account.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ResourceRef } from "../../../controllers/runtime/kube";
import type { HelmRelease } from "../../../controllers/api";
import { parseControllersArgs } from "../../../controllers/flags";
import { newNamespace } from "../../harness/cluster";
import { adminApply } from "../kustomize/env";
import { ConfigMaps, HelmReleases, condition, helm, startHelmEnv, waitForRelease, type HelmEnv } from "./env";

const Services: ResourceRef = { kind: "Service", group: "", version: "v1", plural: "services", namespaced: true };

describe("HelmRelease with --default-service-account", { timeout: 600_000 }, () => {
  let env: HelmEnv;
  let ns: string;

  /** Packages a chart of the given templates and publishes it as HelmChart ns/name. */
  async function chart(name: string, templates: Record<string, string>): Promise<void> {
    const dir = path.join(env.chartDir, name);
    fs.mkdirSync(path.join(dir, "templates"), { recursive: true });
    fs.writeFileSync(path.join(dir, "Chart.yaml"), `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n`);
    for (const [file, body] of Object.entries(templates)) fs.writeFileSync(path.join(dir, "templates", file), body);
    const out = await helm(["package", dir, "-d", env.chartDir]);
    await env.charts.publish(env.admin, ns, name, /saved it to: (.+\.tgz)/.exec(out.stdout)![1]!.trim(), "0.1.0");
  }

  before(async () => {
    const cli = parseControllersArgs(["--controllers=helm", "--default-service-account=deployer"], {});
    assert.ok(!cli.help);
    env = await startHelmEnv({ defaultServiceAccount: cli.options.defaultServiceAccount });
    ns = await newNamespace("helm-default-sa");
    await adminApply(env.admin, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "deployer", namespace: ns } });
    await adminApply(env.admin, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "deployer", namespace: ns },
      rules: [{ apiGroups: [""], resources: ["configmaps", "secrets"], verbs: ["*"] }],
    } as never);
    await adminApply(env.admin, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "deployer", namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "deployer" },
      subjects: [{ kind: "ServiceAccount", name: "deployer", namespace: ns }],
    } as never);
    const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  color: blue\n";
    await chart("allowed", { "cm.yaml": cm });
    await chart("overreach", { "cm.yaml": cm, "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  ports:\n    - port: 80\n" });
  });
  after(async () => {
    if (env) await env.stop();
  });

  const create = (name: string, chartName: string) =>
    env.admin.create(HelmReleases, ns, {
      apiVersion: "helm.toolkit.fluxcd.io/v2",
      kind: "HelmRelease",
      metadata: { name, namespace: ns },
      spec: { interval: "10m", chartRef: { kind: "HelmChart", name: chartName }, install: { remediation: { retries: -1 } } },
    } satisfies Omit<HelmRelease, "status">);

  it("objects the default ServiceAccount may create are installed", async () => {
    await create("settings", "allowed");
    await waitForRelease(env.admin, ns, "settings", (r) => condition(r, "Ready")?.status === "True", "settings Ready", 180_000);
    const cm = await env.admin.get<{ data: Record<string, string> }>(ConfigMaps, ns, "settings-settings");
    assert.equal(cm.data.color, "blue");
  });

  it("an object the default ServiceAccount may not create fails the release with a message naming it", async () => {
    await create("svc", "overreach");
    const hr = await waitForRelease(env.admin, ns, "svc", (r) => condition(r, "Ready")?.status === "False" && /deployer/.test(condition(r, "Ready")!.message), "svc refused as deployer", 180_000);
    const message = condition(hr, "Ready")!.message;
    assert.match(message, new RegExp(`system:serviceaccount:${ns}:deployer`));
    assert.match(message, /forbidden/i);
    assert.match(message, /services/);
    await assert.rejects(env.admin.get(Services, ns, "svc"), /not found/i, "the Service was not created by the controller's own identity");
  });
});
