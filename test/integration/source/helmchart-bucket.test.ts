// HelmChart from a Bucket on the real control plane: the source-controller (its ServiceAccount) fetches a real
// S3-compatible server (SeaweedFS, pinned in local/tools.json) into a Bucket artifact, and packages the chart
// directory at spec.chart from it — version from Chart.yaml, values files from the bucket merged, build
// metadata for reconcileStrategy Revision — read back by the pinned helm CLI.
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { BucketKind, HelmChartKind, type Bucket, type HelmChart } from "../../../controllers/api";
import type { KubeClient } from "../../../controllers/runtime/kube";
import { startS3Server, type S3Server } from "../../../local/seaweedfs";
import { toolPath } from "../../../local/tools";
import { newNamespace, waitFor } from "../../harness/cluster";
import { cond, createSecret, fetchArtifact, startSourceEnv, type SourceEnv } from "./env";

const Buckets = BucketKind.resource;
const HelmCharts = HelmChartKind.resource;
const c = (o: HelmChart | Bucket, type: string) => cond(o as never, type);

async function waitReadyAt<T extends HelmChart | Bucket>(admin: KubeClient, ref: typeof Buckets, ns: string, name: string, status: "True" | "False", extra: (o: T) => boolean = () => true): Promise<T> {
  return waitFor(async () => {
    const o = await admin.get<T>(ref, ns, name);
    const ready = c(o, "Ready");
    return ready?.status === status && ready.observedGeneration === o.metadata.generation && extra(o) ? o : undefined;
  }, { what: `${ref.kind} ${ns}/${name} Ready=${status}`, timeoutMs: 60_000, intervalMs: 200 });
}

describe("HelmChart from a Bucket", () => {
  let env: SourceEnv;
  let s3: S3Server;
  let helm: string;
  let scratch: string;

  before(async () => {
    s3 = await startS3Server();
    env = await startSourceEnv();
    helm = await toolPath("helm");
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-bucketchart-"));
  });
  after(async () => {
    await env?.stop();
    await s3?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  const helmShow = async (url: string, what: "chart" | "values", name: string) => {
    const file = path.join(scratch, `${name}.tgz`);
    fs.writeFileSync(file, (await fetchArtifact(url)).bytes!);
    return execFileSync(helm, ["show", what, file], { encoding: "utf8" });
  };

  test("ChartVersion and Revision strategies, values files from the bucket, a new object revision, a missing path", async (t) => {
    const ns = await newNamespace(t);
    await s3.createBucket(ns);
    const objects: Record<string, string> = {
      "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.3.0\n",
      "charts/web/values.yaml": "replicaCount: 1\ntag: a\n",
      "charts/web/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  tag: {{ .Values.tag | quote }}\n",
      "env/prod-values.yaml": "tag: prod\n",
    };
    for (const [k, v] of Object.entries(objects)) await s3.putObject(ns, k, v);
    await createSecret(env.admin, ns, "s3-keys", { accesskey: s3.credentials.accessKeyId, secretkey: s3.credentials.secretAccessKey });
    await env.admin.create(Buckets, ns, { apiVersion: BucketKind.apiVersion, kind: "Bucket", metadata: { name: "store", namespace: ns }, spec: { bucketName: ns, endpoint: s3.endpoint, insecure: true, interval: "1h", secretRef: { name: "s3-keys" } } } satisfies Bucket);
    const bucket = await waitReadyAt<Bucket>(env.admin, Buckets, ns, "store", "True");
    const rev1 = bucket.status!.artifact!.revision;
    assert.match(rev1, /^sha256:[0-9a-f]{64}$/);

    const mk = (name: string, spec: Partial<HelmChart["spec"]>) =>
      env.admin.create(HelmCharts, ns, { apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name, namespace: ns }, spec: { chart: "charts/web", interval: "10m", sourceRef: { kind: "Bucket", name: "store" }, ...spec } } satisfies HelmChart);
    await mk("by-version", {});
    await mk("by-revision", { reconcileStrategy: "Revision", valuesFiles: ["charts/web/values.yaml", "env/prod-values.yaml"] });
    await mk("missing", { chart: "charts/nope" });

    const byVersion = await waitReadyAt<HelmChart>(env.admin, HelmCharts, ns, "by-version", "True");
    assert.equal(byVersion.status!.artifact!.revision, "0.3.0");
    assert.equal(c(byVersion, "Ready")!.reason, "ChartPackageSucceeded");
    assert.equal(c(byVersion, "Ready")!.message, "packaged 'web' chart with version '0.3.0'");
    assert.equal(byVersion.status!.observedSourceArtifactRevision, rev1);
    assert.equal(byVersion.status!.artifact!.path, `helmchart/${ns}/by-version/web-0.3.0.tgz`);
    assert.match(await helmShow(byVersion.status!.artifact!.url, "chart", "v1"), /^version: 0\.3\.0$/m);

    const gen = (await env.admin.get<HelmChart>(HelmCharts, ns, "by-revision")).metadata.generation!;
    const byRevision = await waitReadyAt<HelmChart>(env.admin, HelmCharts, ns, "by-revision", "True");
    const hex1 = rev1.slice("sha256:".length, "sha256:".length + 12);
    assert.equal(byRevision.status!.artifact!.revision, `0.3.0+${hex1}.${gen}`, "Flux's metadata for a Bucket: the first 12 hex characters of its digest revision");
    assert.deepEqual(parseYaml(await helmShow(byRevision.status!.artifact!.url, "values", "r1")), { replicaCount: 1, tag: "prod" });

    const missing = await waitReadyAt<HelmChart>(env.admin, HelmCharts, ns, "missing", "False");
    assert.equal(c(missing, "Ready")!.reason, "InvalidChartReference");
    assert.match(c(missing, "Ready")!.message, /no chart found at path 'charts\/nope'/);

    // A changed object: the Bucket's new artifact reaches the charts built from it (no requestedAt on them).
    await s3.putObject(ns, "charts/web/values.yaml", "replicaCount: 2\ntag: b\n");
    await env.admin.patch(Buckets, ns, "store", { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "b2" } } });
    const rev2 = (await waitReadyAt<Bucket>(env.admin, Buckets, ns, "store", "True", (o) => o.status?.artifact?.revision !== rev1)).status!.artifact!.revision;
    const hex2 = rev2.slice("sha256:".length, "sha256:".length + 12);
    const rebuilt = await waitReadyAt<HelmChart>(env.admin, HelmCharts, ns, "by-revision", "True", (o) => o.status?.artifact?.revision === `0.3.0+${hex2}.${gen}`);
    assert.equal(rebuilt.status!.observedSourceArtifactRevision, rev2);
    assert.deepEqual(parseYaml(await helmShow(rebuilt.status!.artifact!.url, "values", "r2")), { replicaCount: 2, tag: "prod" });
    const kept = await waitReadyAt<HelmChart>(env.admin, HelmCharts, ns, "by-version", "True", (o) => o.status?.observedSourceArtifactRevision === rev2);
    assert.deepEqual(kept.status!.artifact, byVersion.status!.artifact, "ChartVersion: same chart version, the stored chart stands");

    // A missing Bucket: a clear condition naming it.
    await env.admin.create(HelmCharts, ns, { apiVersion: HelmChartKind.apiVersion, kind: "HelmChart", metadata: { name: "orphan", namespace: ns }, spec: { chart: "charts/web", interval: "10m", sourceRef: { kind: "Bucket", name: "absent" } } } satisfies HelmChart);
    const orphan = await waitReadyAt<HelmChart>(env.admin, HelmCharts, ns, "orphan", "False");
    assert.equal(c(orphan, "Ready")!.message, `failed to get source: Bucket '${ns}/absent' not found`);
  });
});
