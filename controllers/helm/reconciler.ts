// The HelmRelease reconciler: chart source → values → the release action the stored state calls for
// (install, upgrade, test, remediation by rollback or uninstall) → status as Flux writes it. Helm's work
// (render, hooks, wait, storage) runs in the Helm helper; this file decides what to run. The lifecycle
// (finalizer, suspend, status commit, errors → conditions) is the runtime's session.
import { createHash } from "node:crypto";
import type { Action, ErrorPolicy, Reconciler } from "../runtime/controller";
import type { Session } from "../runtime/session";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { getCondition, markFalse, markReady, markReconciling, markTrue, removeCondition } from "../runtime/conditions";
import type { KubeClient } from "../runtime/kube";
import { FluxFinalizer, ProgressingReason, ReadyCondition } from "../api/meta";
import { durationOr, parseDuration } from "../api/duration";
import {
  HelmNameLabel,
  HelmNamespaceLabel,
  HelmRevisionMetadataKey,
  InstallFailedReason,
  InstallSucceededReason,
  ReleasedCondition,
  RemediatedCondition,
  ResetRequestAnnotation,
  ForceRequestAnnotation,
  RollbackFailedReason,
  RollbackSucceededReason,
  TestFailedReason,
  TestSucceededReason,
  TestSuccessCondition,
  UninstallFailedReason,
  UninstallSucceededReason,
  UpgradeFailedReason,
  UpgradeSucceededReason,
  type HelmRelease,
  type HelmReleaseSnapshot,
} from "../api/helm";
import { ArtifactFailedReason, type Artifact } from "../api/source";
import { DependencyNotReadyReason } from "../api/kustomize";
import { composeValues, valuesDigest, type Values } from "./values";
import { deleteTemplatedChart, resolveChartSource, type ChartCache, type ChartSource, type SourceId } from "./chart";
import { dependenciesNotReady, type DependencyLookup } from "./dependencies";
import type { HelmHelper, HelmRequest, HelmResponse, ReleaseSnapshot } from "./helper";
import type { DriftWatcher } from "../kustomize/drift";
import type { RestMapper } from "../kustomize/restmapper";
import type { Manifest } from "../kustomize/inventory";
import { correctDrift, describeDrift, detectDrift, releaseObjects } from "./drift";
import { DriftDetectedReason } from "../api/helm";

export const HelmFinalizer = FluxFinalizer;
export const RetriesExceededReason = "RetriesExceeded";
export const ReleaseUnlockedReason = "ReleaseUnlocked";

export interface HelmReconcilerOptions {
  helper: HelmHelper;
  charts: ChartCache;
  lookupDependency: DependencyLookup;
  lookupSource?: (id: SourceId) => ChartSource | undefined;
  defaultServiceAccount?: string;
  noCrossNamespaceRefs?: boolean;
  requeueDependencyMs: number;
  /** Maps the release's objects to resources (drift detection). */
  mapper?: RestMapper;
  /** Watches the objects of releases with drift detection on, to reconcile them when one changes. */
  drift?: DriftWatcher;
}

/** Failures are retried with backoff, at most at spec.interval. */
export const helmReleaseErrorPolicy: ErrorPolicy<HelmRelease> = {
  reason: "ReconciliationFailed",
  retryAfter: (hr, backoffMs) => Math.min(backoffMs, durationOr(hr.spec.interval, backoffMs)),
};

const defaultTimeoutMs = 5 * 60_000;
const defaultMaxHistory = 5;

/** Release name as Flux derives it: spec.releaseName, else [<targetNamespace>-]<name>, shortened past 53 characters. */
export function releaseNameOf(hr: HelmRelease): string {
  if (hr.spec.releaseName) return hr.spec.releaseName;
  const name = hr.spec.targetNamespace ? `${hr.spec.targetNamespace}-${hr.metadata.name}` : hr.metadata.name;
  if (name.length <= 53) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 12);
  return `${name.slice(0, 40)}-${hash}`;
}

export const targetNamespaceOf = (hr: HelmRelease): string => hr.spec.targetNamespace || hr.metadata.namespace!;
export const storageNamespaceOf = (hr: HelmRelease): string => hr.spec.storageNamespace || hr.metadata.namespace!;

const digestOf = (v: unknown): string => `sha256:${createHash("sha256").update(JSON.stringify(v ?? null)).digest("hex")}`;

/** What the release should be: chart, values and the digests that say whether it is deployed already. */
interface Desired {
  chartFile: string;
  artifact: Artifact;
  chartName: string;
  chartVersion: string;
  values: Values;
  configDigest: string;
  postRenderersDigest: string;
  commonMetadataDigest: string;
}

interface Run {
  s: Session<HelmRelease>;
  hr: HelmRelease;
  desired: Desired;
  signal: AbortSignal;
}

export class HelmReleaseReconciler implements Reconciler<HelmRelease> {
  constructor(private readonly o: HelmReconcilerOptions) {}

  reconcile(s: Session<HelmRelease>): Promise<Action | void> {
    return s.withFinalizer(
      () => this.sync(s),
      () => this.finalize(s),
    );
  }

  private async sync(s: Session<HelmRelease>): Promise<Action> {
    const hr = s.obj;
    const status = (hr.status ??= {});
    const waiting = dependenciesNotReady(hr, this.o.lookupDependency);
    if (waiting) {
      markReconciling(hr, DependencyNotReadyReason, waiting);
      markFalse(hr, ReadyCondition, DependencyNotReadyReason, waiting);
      status.observedGeneration = hr.metadata.generation;
      s.log.info({ reason: DependencyNotReadyReason, message: waiting }, "dependencies not ready");
      return { requeueAfter: this.o.requeueDependencyMs };
    }
    const { id, artifact } = await resolveChartSource(hr, { client: s.client, signal: s.signal, noCrossNamespaceRefs: this.o.noCrossNamespaceRefs, cached: this.o.lookupSource });
    if (hr.spec.chart && !hr.spec.chartRef) status.helmChart = `${id.namespace}/${id.name}`;
    else if (status.helmChart) {
      await deleteTemplatedChart(hr, s.client, s.signal, status.helmChart);
      delete status.helmChart;
    }
    const desired = await this.desired(hr, artifact, s);
    const current = await this.o.helper.run({ op: "status", ...this.base(hr), chart: desired.chartFile }, s.signal);
    if (!current.ok) {
      const reason = current.chart || !/chart/i.test(current.error ?? "") ? GetLastReleaseFailed : ArtifactFailedReason;
      throw new ReconcileError(reason, reason === ArtifactFailedReason ? `${current.error} (artifact ${artifact.revision})` : `failed to get last release revision: ${current.error}`);
    }
    desired.chartName = current.chart!.name;
    desired.chartVersion = current.chart!.version;
    s.eventMetadata[HelmRevisionMetadataKey] = desired.chartVersion;
    this.resetFailuresOnChange(hr, desired);
    status.lastAttemptedGeneration = hr.metadata.generation;
    status.lastAttemptedRevision = desired.chartVersion;
    status.lastAttemptedRevisionDigest = artifact.digest;
    status.lastAttemptedConfigDigest = desired.configDigest;
    status.storageNamespace = storageNamespaceOf(hr);
    let latest = current.notFound ? undefined : current.release;
    if (latest?.status.startsWith("pending-")) latest = await this.unlock(s, hr, latest);
    return this.release({ s, hr, desired, signal: s.signal }, latest);
  }

  /**
   * A release left in pending-install, -upgrade or -rollback by an operation that did not finish (the
   * controller or its helper stopped halfway) blocks every further Helm action: it is marked failed, so the
   * next upgrade (or install remediation) runs. The helper refuses while it still runs an operation on it.
   */
  private async unlock(s: Session<HelmRelease>, hr: HelmRelease, stuck: ReleaseSnapshot): Promise<ReleaseSnapshot | undefined> {
    const res = await this.o.helper.run({ op: "unlock", ...this.base(hr) }, s.signal);
    if (!res.ok) throw new ReconcileError(GetLastReleaseFailed, `release ${releaseId(stuck)} is ${stuck.status}: ${res.error}`);
    const message = `Release ${releaseId(stuck)} was left ${stuck.status} by an operation that did not finish: marked failed`;
    s.event("Warning", ReleaseUnlockedReason, message);
    s.log.info({ release: releaseId(stuck), status: stuck.status }, "pending release unlocked");
    return res.notFound ? undefined : res.release;
  }

  private async desired(hr: HelmRelease, artifact: Artifact, s: Session<HelmRelease>): Promise<Desired> {
    const values = await composeValues(hr, s.client, s.signal);
    const chartFile = await this.o.charts.get(artifact, s.signal);
    return {
      chartFile,
      artifact,
      chartName: "",
      chartVersion: "",
      values,
      configDigest: valuesDigest(values),
      postRenderersDigest: digestOf(hr.spec.postRenderers ?? []),
      commonMetadataDigest: digestOf(hr.spec.commonMetadata ?? {}),
    };
  }

  /**
   * A change of chart or values after retries ran out starts a fresh series of attempts (Flux needs a
   * suspend/resume or a reset annotation for that); so does reconcile.fluxcd.io/resetAt.
   */
  private resetFailuresOnChange(hr: HelmRelease, d: Desired): void {
    const status = hr.status!;
    const resetAt = hr.metadata.annotations?.[ResetRequestAnnotation];
    const reset = resetAt !== undefined && resetAt !== status.lastHandledResetAt;
    const changed =
      (status.lastAttemptedRevisionDigest !== undefined && status.lastAttemptedRevisionDigest !== d.artifact.digest) ||
      (status.lastAttemptedConfigDigest !== undefined && status.lastAttemptedConfigDigest !== d.configDigest) ||
      (status.lastAttemptedGeneration !== undefined && status.lastAttemptedGeneration !== hr.metadata.generation);
    if (reset) status.lastHandledResetAt = resetAt;
    if (reset || changed) {
      status.failures = 0;
      status.installFailures = 0;
      status.upgradeFailures = 0;
    }
  }

  /** Decides and runs the next release action from the stored release and the failure counters. */
  private async release(run: Run, latest: ReleaseSnapshot | undefined): Promise<Action> {
    const { hr, desired, s } = run;
    const status = hr.status!;
    const forceAt = hr.metadata.annotations?.[ForceRequestAnnotation];
    const forced = forceAt !== undefined && forceAt !== status.lastHandledForceAt;
    if (forced) status.lastHandledForceAt = forceAt;
    if (latest && !forced && this.inSync(hr, latest, desired)) {
      await this.checkDrift(run);
      await this.refreshHistory(run);
      if (hr.spec.test?.enable && !testsRanFor(latest)) return this.afterRelease(run, "upgrade", latest, true);
      const released = getCondition(hr, ReleasedCondition);
      const message = released?.status === "True" ? released.message : `Helm ${status.lastAttemptedReleaseAction ?? "install"} succeeded for release ${releaseId(latest)} with chart ${latest.chartName}@${latest.chartVersion}`;
      if (released?.status !== "True") markTrue(hr, ReleasedCondition, status.lastAttemptedReleaseAction === "upgrade" ? UpgradeSucceededReason : InstallSucceededReason, message);
      return this.ready(run, getCondition(hr, ReleasedCondition)!.reason, message);
    }
    const action: "install" | "upgrade" = !latest || latest.status === "uninstalled" ? "install" : "upgrade";
    const exhausted = this.retriesExhausted(hr, action);
    if (exhausted) throw exhausted;
    status.lastAttemptedReleaseAction = action;
    status.observedPostRenderersDigest = desired.postRenderersDigest;
    status.observedCommonMetadataDigest = desired.commonMetadataDigest;
    s.progressing(ProgressingReason, `Running '${action}' action with timeout of ${formatMs(this.timeoutMs(hr, action))}`);
    const res = await this.o.helper.run(this.actionRequest(run, action, latest), run.signal);
    if (!res.ok) return this.failed(run, action, res.error ?? "unknown error", res.release);
    return this.afterRelease(run, action, res.release!, false);
  }

  /** The stored release is the one wanted: deployed, same chart, same values, same post-rendering. */
  private inSync(hr: HelmRelease, latest: ReleaseSnapshot, d: Desired): boolean {
    const status = hr.status!;
    return (
      latest.status === "deployed" &&
      latest.chartName === d.chartName &&
      latest.chartVersion === d.chartVersion &&
      latest.configDigest === d.configDigest &&
      (status.observedPostRenderersDigest ?? digestOf([])) === d.postRenderersDigest &&
      (status.observedCommonMetadataDigest ?? digestOf({})) === d.commonMetadataDigest
    );
  }

  private retriesExhausted(hr: HelmRelease, action: "install" | "upgrade"): ReconcileError | undefined {
    const status = hr.status!;
    const failures = (action === "install" ? status.installFailures : status.upgradeFailures) ?? 0;
    if (failures === 0) return undefined;
    const retries = this.retries(hr, action);
    if (retries < 0 || failures <= retries) return undefined;
    const message = `Failed to ${action} after ${failures} attempt(s)`;
    return new ReconcileError(RetriesExceededReason, message, { stalled: true });
  }

  private retries(hr: HelmRelease, action: "install" | "upgrade"): number {
    const spec = action === "install" ? hr.spec.install : hr.spec.upgrade;
    return spec?.remediation?.retries ?? 0;
  }

  private timeoutMs(hr: HelmRelease, op: "install" | "upgrade" | "test" | "rollback" | "uninstall"): number {
    const spec = hr.spec[op] as { timeout?: string } | undefined;
    return parseDuration(spec?.timeout ?? hr.spec.timeout ?? "5m") || defaultTimeoutMs;
  }

  private impersonate(hr: HelmRelease): string | undefined {
    const sa = hr.spec.serviceAccountName || this.o.defaultServiceAccount;
    return sa ? `system:serviceaccount:${hr.metadata.namespace}:${sa}` : undefined;
  }

  private base(hr: HelmRelease): Pick<HelmRequest, "releaseName" | "namespace" | "storageNamespace" | "impersonate"> {
    return { releaseName: releaseNameOf(hr), namespace: targetNamespaceOf(hr), storageNamespace: storageNamespaceOf(hr), impersonate: this.impersonate(hr) };
  }

  private actionRequest(run: Run, action: "install" | "upgrade", latest: ReleaseSnapshot | undefined): HelmRequest {
    const { hr, desired } = run;
    const common: HelmRequest = {
      op: action,
      ...this.base(hr),
      chart: desired.chartFile,
      values: desired.values,
      timeoutMs: this.timeoutMs(hr, action),
      postRenderers: hr.spec.postRenderers,
      commonMetadata: hr.spec.commonMetadata,
      labels: { [HelmNameLabel]: hr.metadata.name, [HelmNamespaceLabel]: hr.metadata.namespace! },
      description: `${action === "install" ? "Install" : "Upgrade"} complete`,
      maxHistory: hr.spec.maxHistory ?? defaultMaxHistory,
    };
    if (action === "install") {
      const i = hr.spec.install ?? {};
      return {
        ...common,
        wait: !i.disableWait,
        waitForJobs: !i.disableWait && !i.disableWaitForJobs,
        disableHooks: i.disableHooks,
        disableOpenAPIValidation: i.disableOpenAPIValidation,
        disableSchemaValidation: i.disableSchemaValidation,
        crds: i.crds ?? (i.skipCRDs ? "Skip" : "Create"),
        createNamespace: i.createNamespace,
        replace: i.replace || latest?.status === "uninstalled",
        firstRelease: !latest && !i.replace,
      };
    }
    const u = hr.spec.upgrade ?? {};
    return {
      ...common,
      wait: !u.disableWait,
      waitForJobs: !u.disableWait && !u.disableWaitForJobs,
      disableHooks: u.disableHooks,
      disableOpenAPIValidation: u.disableOpenAPIValidation,
      disableSchemaValidation: u.disableSchemaValidation,
      crds: u.crds ?? "Skip",
      force: u.force,
      cleanupOnFail: u.cleanupOnFail,
    };
  }

  /** After a successful install or upgrade: tests when enabled, then Ready. */
  private async afterRelease(run: Run, action: "install" | "upgrade", rel: ReleaseSnapshot, testOnly: boolean): Promise<Action> {
    const { hr, s } = run;
    const status = hr.status!;
    const reason = action === "install" ? InstallSucceededReason : UpgradeSucceededReason;
    const message = `Helm ${action} succeeded for release ${releaseId(rel)} with chart ${rel.chartName}@${rel.chartVersion}`;
    if (!testOnly) {
      markTrue(hr, ReleasedCondition, reason, message);
      removeCondition(hr, RemediatedCondition);
      s.event("Normal", reason, message);
    }
    let readyMessage = getCondition(hr, ReleasedCondition)?.message ?? message;
    let latestTested: ReleaseSnapshot | undefined;
    if (hr.spec.test?.enable) {
      const t = hr.spec.test;
      const res = await this.o.helper.run({ op: "test", ...this.base(hr), timeoutMs: this.timeoutMs(hr, "test"), testFilters: t.filters }, run.signal);
      const tested = res.release ?? rel;
      latestTested = tested;
      if (!res.ok) {
        const msg = `Helm test failed for release ${releaseId(tested)} with chart ${tested.chartName}@${tested.chartVersion}: ${res.error}`;
        markFalse(hr, TestSuccessCondition, TestFailedReason, msg);
        s.event("Warning", TestFailedReason, msg);
        await this.refreshHistory(run);
        const remediation = action === "install" ? hr.spec.install?.remediation : hr.spec.upgrade?.remediation;
        if (!t.ignoreFailures && !remediation?.ignoreTestFailures) return this.failed(run, action, msg, tested, true);
      } else {
        const hooks = Object.keys(tested.testHooks ?? {}).length;
        const msg = hooks
          ? `Helm test succeeded for release ${releaseId(tested)} with chart ${tested.chartName}@${tested.chartVersion}: ${hooks} test hook(s) completed successfully`
          : `Helm test succeeded for release ${releaseId(tested)} with chart ${tested.chartName}@${tested.chartVersion}: no test hooks`;
        markTrue(hr, TestSuccessCondition, TestSucceededReason, msg);
        s.event("Normal", TestSucceededReason, msg);
        readyMessage = msg;
      }
    } else {
      removeCondition(hr, TestSuccessCondition);
    }
    status.failures = 0;
    status.installFailures = 0;
    status.upgradeFailures = 0;
    await this.checkDrift(run);
    // The first release of a name is its whole history; otherwise Helm's storage says what is kept.
    if (action === "install" && !testOnly && rel.version === 1) status.history = [toStatusSnapshot(latestTested ?? rel)];
    else await this.refreshHistory(run);
    return this.ready(run, getCondition(hr, TestSuccessCondition)?.status === "True" ? TestSucceededReason : getCondition(hr, ReleasedCondition)!.reason, readyMessage);
  }

  /**
   * spec.driftDetection: compares the deployed release's objects with the cluster; mode enabled corrects the
   * drifted ones (no new release revision), warn only reports them in an event. Either way the objects are
   * watched from then on, so a change reconciles the release within seconds.
   */
  private async checkDrift(run: Run): Promise<void> {
    const { hr, s } = run;
    const owner = `${hr.metadata.namespace}/${hr.metadata.name}`;
    const mode = hr.spec.driftDetection?.mode ?? "disabled";
    if (mode === "disabled" || !this.o.mapper) {
      this.o.drift?.forget(owner);
      return;
    }
    const res = await this.o.helper.run({ op: "status", ...this.base(hr), withManifest: true }, run.signal);
    if (!res.ok || !res.release) throw new ReconcileError(GetLastReleaseFailed, `failed to read the release manifest for drift detection: ${res.error ?? "no release"}`);
    const objects = await releaseObjects(res.release.manifest ?? "", { name: res.release.name, namespace: res.release.namespace }, this.o.mapper, run.signal);
    const ignore = hr.spec.driftDetection?.ignore;
    const { drifted, live } = await detectDrift(s.client, objects, ignore, run.signal);
    let stored = new Map<(typeof drifted)[number], Record<string, unknown>>();
    if (drifted.length > 0) {
      const id = releaseId(res.release);
      if (mode === "enabled") {
        stored = await correctDrift(s.client, drifted, run.signal);
        s.event("Normal", DriftDetectedReason, `Drift in the objects of release ${id} corrected: ${describeDrift(drifted)}`);
      } else {
        s.event("Warning", DriftDetectedReason, `The objects of release ${id} drifted from the release manifest: ${describeDrift(drifted)}`);
      }
    }
    const watcher = this.o.drift;
    if (!watcher) return;
    watcher.retain(owner, new Set());
    for (const [o, obj] of live) watcher.observe(owner, o.ref, o.desired as unknown as Manifest, obj);
    for (const d of drifted) {
      const obj = stored.get(d);
      // In warn mode a drifted object's baseline is what it is now: a further change is reported again.
      if (obj || mode === "warn") watcher.observe(owner, d.ref, d.desired as unknown as Manifest, obj ?? (d.change === "deleted" ? undefined : await s.client.get(d.ref, d.desired.metadata.namespace, d.desired.metadata.name, { signal: run.signal })));
    }
  }

  private ready(run: Run, reason: string, message: string): Action {
    const { hr, s } = run;
    markReady(hr, reason, message);
    const interval = parseDuration(hr.spec.interval);
    s.log.info({ release: releaseNameOf(hr), ms: Date.now() - s.startedAt }, `release in sync, next run in ${formatMs(interval)}`);
    return { requeueAfter: interval };
  }

  /**
   * A failed install, upgrade or test: count it, remediate as the spec says (uninstall a failed install,
   * roll back or uninstall a failed upgrade; nothing with RetryOnFailure), then fail the reconcile so it is
   * retried — or stalled once retries are exhausted.
   */
  private async failed(run: Run, action: "install" | "upgrade", error: string, rel: ReleaseSnapshot | undefined, testFailure = false): Promise<Action> {
    const { hr, s } = run;
    const status = hr.status!;
    const reason = action === "install" ? InstallFailedReason : UpgradeFailedReason;
    status.failures = (status.failures ?? 0) + 1;
    const failures = action === "install" ? (status.installFailures = (status.installFailures ?? 0) + 1) : (status.upgradeFailures = (status.upgradeFailures ?? 0) + 1);
    const name = rel ? releaseId(rel) : `${targetNamespaceOf(hr)}/${releaseNameOf(hr)}`;
    const chart = `${run.desired.chartName}@${run.desired.chartVersion}`;
    const message = testFailure ? error : `Helm ${action} failed for release ${name} with chart ${chart}: ${error}`;
    markFalse(hr, ReleasedCondition, reason, message);
    s.event("Warning", reason, message);
    await this.refreshHistory(run);
    const spec = action === "install" ? hr.spec.install : hr.spec.upgrade;
    const retries = this.retries(hr, action);
    const retriesLeft = retries < 0 || failures <= retries;
    if (spec?.strategy?.name === "RetryOnFailure") {
      if (!retriesLeft) throw new ReconcileError(reason, `${message} (retries exhausted after ${failures} attempt(s))`, { stalled: true });
      const retryMs = parseDuration(spec.strategy.retryInterval ?? "5m");
      markFalse(hr, ReadyCondition, reason, message);
      markTrue(hr, "Reconciling", "ProgressingWithRetry", message);
      status.observedGeneration = hr.metadata.generation;
      return { requeueAfter: retryMs };
    }
    const remediateLast = spec?.remediation?.remediateLastFailure ?? retries !== 0;
    // Only a release that was recorded needs remediation: a chart that failed to render left nothing behind.
    if (rel && (retriesLeft || remediateLast)) await this.remediate(run, action);
    throw new ReconcileError(reason, message, { stalled: !retriesLeft });
  }

  private async remediate(run: Run, action: "install" | "upgrade"): Promise<void> {
    const { hr, s } = run;
    const strategy = action === "install" ? "uninstall" : (hr.spec.upgrade?.remediation?.strategy ?? "rollback");
    if (strategy === "rollback") {
      const history = hr.status?.history ?? [];
      const previous = history.find((h) => h.version < (history[0]?.version ?? 0) && (h.status === "superseded" || h.status === "deployed"));
      if (!previous) {
        s.log.info("no previous successful release to roll back to");
        return;
      }
      const r = hr.spec.rollback ?? {};
      const res = await this.o.helper.run(
        { op: "rollback", ...this.base(hr), version: previous.version, timeoutMs: this.timeoutMs(hr, "rollback"), wait: !r.disableWait, waitForJobs: !r.disableWait && !r.disableWaitForJobs, disableHooks: r.disableHooks, recreate: r.recreate, force: r.force, cleanupOnFail: r.cleanupOnFail, maxHistory: hr.spec.maxHistory ?? defaultMaxHistory },
        run.signal,
      );
      const target = `${previous.namespace}/${previous.name}.v${previous.version}`;
      if (res.ok) {
        const msg = `Helm rollback to previous release ${target} with chart ${previous.chartName}@${previous.chartVersion} succeeded`;
        markTrue(hr, RemediatedCondition, RollbackSucceededReason, msg);
        s.event("Normal", RollbackSucceededReason, msg);
      } else {
        const msg = `Helm rollback to previous release ${target} with chart ${previous.chartName}@${previous.chartVersion} failed: ${res.error}`;
        markFalse(hr, RemediatedCondition, RollbackFailedReason, msg);
        s.event("Warning", RollbackFailedReason, msg);
      }
    } else {
      const res = await this.uninstall(run.hr, run.signal);
      const id = `${targetNamespaceOf(hr)}/${releaseNameOf(hr)}`;
      if (res.ok) {
        const msg = `Helm uninstall for release ${id} succeeded`;
        markTrue(hr, RemediatedCondition, UninstallSucceededReason, msg);
        s.event("Normal", UninstallSucceededReason, msg);
      } else {
        const msg = `Helm uninstall for release ${id} failed: ${res.error}`;
        markFalse(hr, RemediatedCondition, UninstallFailedReason, msg);
        s.event("Warning", UninstallFailedReason, msg);
      }
    }
    await this.refreshHistory(run);
  }

  private uninstall(hr: HelmRelease, signal: AbortSignal): Promise<HelmResponse> {
    const u = hr.spec.uninstall ?? {};
    return this.o.helper.run(
      { op: "uninstall", ...this.base(hr), timeoutMs: this.timeoutMs(hr, "uninstall"), disableHooks: u.disableHooks, keepHistory: u.keepHistory, wait: !u.disableWait, deletionPropagation: u.deletionPropagation, description: "Uninstallation complete" },
      signal,
    );
  }

  /** status.history from Helm's storage: the release versions, newest first (at most maxHistory, default 5). */
  private async refreshHistory(run: Run): Promise<void> {
    const { hr } = run;
    const res = await this.o.helper.run({ op: "history", ...this.base(hr) }, run.signal);
    if (!res.ok) {
      run.s.log.warn({ err: res.error }, "could not read the release history");
      return;
    }
    const max = hr.spec.maxHistory || defaultMaxHistory;
    hr.status!.history = (res.history ?? []).slice(0, max).map(toStatusSnapshot);
  }

  /** Deletion: uninstall the release (unless suspended) and delete the templated HelmChart. */
  private async finalize(s: Session<HelmRelease>): Promise<void> {
    const hr = s.obj;
    this.o.drift?.forget(`${hr.metadata.namespace}/${hr.metadata.name}`);
    if (!hr.spec.suspend) {
      const res = await this.uninstall(hr, s.signal);
      const id = `${targetNamespaceOf(hr)}/${releaseNameOf(hr)}`;
      if (!res.ok) {
        const msg = `Helm uninstall for release ${id} failed: ${res.error}`;
        s.event("Warning", UninstallFailedReason, msg, "Delete");
        throw new ReconcileError(UninstallFailedReason, msg);
      }
      if (!res.notFound) s.event("Normal", UninstallSucceededReason, `Helm uninstall for release ${id} succeeded`, "Delete");
    }
    if (hr.status?.helmChart || (hr.spec.chart && !hr.spec.chartRef)) {
      try {
        await deleteTemplatedChart(hr, s.client, s.signal, hr.status?.helmChart);
      } catch (err) {
        s.log.warn({ err: errorMessage(err) }, "could not delete the HelmChart made from spec.chart");
      }
    }
  }
}

const GetLastReleaseFailed = "GetLastReleaseFailed";

function testsRanFor(rel: ReleaseSnapshot): boolean {
  const hooks = Object.values(rel.testHooks ?? {});
  return hooks.length === 0 ? false : hooks.every((h) => h.lastStarted);
}

export const releaseId = (r: { namespace: string; name: string; version: number }): string => `${r.namespace}/${r.name}.v${r.version}`;

function toStatusSnapshot(r: ReleaseSnapshot): HelmReleaseSnapshot {
  const out: HelmReleaseSnapshot = {
    apiVersion: "helm.toolkit.fluxcd.io/v2",
    digest: r.digest,
    name: r.name,
    namespace: r.namespace,
    version: r.version,
    status: r.status,
    chartName: r.chartName,
    chartVersion: r.chartVersion,
    configDigest: r.configDigest,
    firstDeployed: r.firstDeployed,
    lastDeployed: r.lastDeployed,
  };
  if (r.appVersion) out.appVersion = r.appVersion;
  if (r.deleted) out.deleted = r.deleted;
  if (r.testHooks && Object.keys(r.testHooks).length) out.testHooks = r.testHooks;
  return out;
}

function formatMs(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m0s`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export type { KubeClient };
