// Spec overrides written into the kustomization before the build, and postBuild substitution.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigMaps, Deployments, Secrets, cond, configMap, createKustomization, deployment, getOrUndefined, newFleet, startKustomizeEnv, waitKs, logsFor, requestReconcile, type KustomizeEnv } from "./env";

type CM = { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; data: Record<string, string> };

describe("Kustomization build options", () => {
  let env: KustomizeEnv;
  before(async () => {
    env = await startKustomizeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test("targetNamespace, namePrefix/nameSuffix, patches, images, components and commonMetadata", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await fleet.commit({
      "app/kustomization.yaml": "resources:\n  - web.yaml\n  - cm.yaml\n",
      "app/web.yaml": deployment("web", "placeholder", 1, "nginx:1.0"),
      "app/cm.yaml": configMap("settings", { mode: "blue" }),
      "app/extra/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - cm.yaml\n",
      "app/extra/cm.yaml": configMap("from-component", { c: "1" }),
    });
    await createKustomization(env, ns, "app", {
      path: "./app",
      targetNamespace: ns,
      namePrefix: "pre-",
      nameSuffix: "-suf",
      images: [{ name: "nginx", newName: "registry.invalid/nginx", newTag: "2.0" }],
      components: ["extra"],
      commonMetadata: { labels: { team: "blue" }, annotations: { "example.com/owner": "platform" } },
      patches: [
        { patch: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  patched: \"yes\"\n" },
        { patch: "- op: replace\n  path: /spec/replicas\n  value: 3\n", target: { kind: "Deployment", name: "web" } },
      ],
    });
    const ks = await waitKs(env, ns, "app", "True");
    assert.deepEqual(ks.status!.inventory!.entries.map((e) => e.id).sort(), [`${ns}_pre-from-component-suf__ConfigMap`, `${ns}_pre-settings-suf__ConfigMap`, `${ns}_pre-web-suf_apps_Deployment`]);
    const web = await env.admin.get<{ metadata: { labels: Record<string, string> }; spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { spec: { containers: { image: string }[] } } } }>(Deployments, ns, "pre-web-suf");
    assert.equal(web.spec.replicas, 3, "JSON6902 patch with target");
    assert.equal(web.spec.template.spec.containers[0]!.image, "registry.invalid/nginx:2.0", "images");
    assert.equal(web.metadata.labels.team, "blue", "commonMetadata label");
    assert.equal(web.spec.selector.matchLabels.team, undefined, "commonMetadata not in selectors");
    const cm = await env.admin.get<CM>(ConfigMaps, ns, "pre-settings-suf");
    assert.equal(cm.data.patched, "yes", "strategic merge patch");
    assert.equal(cm.metadata.annotations!["example.com/owner"], "platform");
  });

  test("postBuild substitution: substitute, substituteFrom (ConfigMap, Secret, optional), defaults, escapes, opt-out", async (t) => {
    const fleet = await newFleet(t, env, {});
    const ns = fleet.ns;
    await env.admin.create(ConfigMaps, ns, { metadata: { name: "cluster-vars" }, data: { region: "eu-west", cluster: "from-configmap" } });
    await env.admin.create(Secrets, ns, { metadata: { name: "secret-vars" }, stringData: { token: "s3cr3t" } });
    const vars = {
      cluster: "${cluster}",
      region: "${region}",
      tier: "${tier:=gold}",
      token: "${token}",
      literal: "$${not_a_var}",
    };
    await fleet.commit({
      "app/cm.yaml": configMap("vars", vars, ns),
      "app/raw.yaml": configMap("raw", { cluster: "${cluster}" }, ns, { "kustomize.toolkit.fluxcd.io/substitute": "disabled" }),
      "app/web.yaml": deployment("web", ns, 1).replace("replicas: 1", "replicas: ${replicas:=2}"),
    });
    await createKustomization(env, ns, "app", {
      path: "./app",
      retryInterval: "2s",
      postBuild: {
        substitute: { cluster: "prod-1" },
        substituteFrom: [
          { kind: "ConfigMap", name: "cluster-vars" },
          { kind: "Secret", name: "secret-vars" },
          { kind: "ConfigMap", name: "absent", optional: true },
          { kind: "Secret", name: "absent-secret", optional: true },
        ],
      },
    });
    await waitKs(env, ns, "app", "True");
    const cm = await env.admin.get<CM>(ConfigMaps, ns, "vars");
    assert.deepEqual(cm.data, { cluster: "prod-1", region: "eu-west", tier: "gold", token: "s3cr3t", literal: "${not_a_var}" });
    assert.equal((await env.admin.get<CM>(ConfigMaps, ns, "raw")).data.cluster, "${cluster}", "opt-out annotation");
    assert.equal((await env.admin.get<{ spec: { replicas: number } }>(Deployments, ns, "web")).spec.replicas, 2, "numeric default");

    // A variable without value or default fails the build (strict), naming the object; nothing is applied.
    const rev = await fleet.commit({
      "app/cm.yaml": configMap("vars", { ...vars, region: "changed" }, ns),
      "app/new.yaml": configMap("new", { v: "${undefined_var}" }, ns),
    });
    const ks = await waitKs(env, ns, "app", "False", (k) => k.status?.lastAttemptedRevision === rev);
    assert.equal(cond(ks, "Ready")!.reason, "BuildFailed");
    assert.match(cond(ks, "Ready")!.message, new RegExp(`ConfigMap/${ns}/new.*variable not set \\(strict mode\\): "undefined_var"`));
    assert.equal(await getOrUndefined(env.admin, ConfigMaps, ns, "new"), undefined);
    assert.equal((await env.admin.get<CM>(ConfigMaps, ns, "vars")).data.region, "eu-west", "nothing applied from the failing build");

    // Setting the variable in a substituteFrom ConfigMap fixes it at the next retry.
    await env.admin.patch(ConfigMaps, ns, "cluster-vars", { data: { undefined_var: "now-set" } });
    const fixed = await waitKs(env, ns, "app", "True", (k) => k.status?.lastAppliedRevision === rev, 30_000);
    assert.equal(fixed.status!.lastAppliedRevision, rev);
    assert.equal((await env.admin.get<CM>(ConfigMaps, ns, "new")).data.v, "now-set");

    // A missing, non-optional substituteFrom source is a build failure naming it.
    await env.admin.delete(Secrets, ns, "secret-vars");
    const token = await requestReconcile(env.admin, ns, "app");
    const missing = await waitKs(env, ns, "app", "False", (k) => k.status?.lastHandledReconcileAt === token, 30_000);
    assert.equal(cond(missing, "Ready")!.reason, "BuildFailed");
    assert.equal(cond(missing, "Ready")!.message, `substitute from 'Secret/${ns}/secret-vars' failed: not found`, logsFor(env, ns, "app"));
  });
});
