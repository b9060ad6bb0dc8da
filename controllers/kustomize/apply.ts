// The ResourceManager: server-side apply in stages with a dry run of each stage before anything of it is
// written, no write for unchanged objects, recreate on immutable-field errors when forced, prune, and a
// ChangeSet that logs, events and status render from.
import { ApiError, isNotFound, type KubeClient, type ResourceRef } from "../runtime/kube";
import { sleep } from "../runtime/informer";
import { KustomizeNameLabel, KustomizeNamespaceLabel } from "../api/kustomize";
import { applyExcluded, forceEnabled, pruneExcluded, reconcileDisabled, ssaIfNotPresent, ssaIgnore, ssaMerge } from "./markers";
import { describe, describeId, formatId, objectIdOf, pruneOrder, stages, versionOf, type Manifest, type ObjectId, type StageName } from "./inventory";
import type { RestMapper } from "./restmapper";
import { cleanedManagedFields, LastAppliedAnnotation, type ManagedFieldsEntry } from "./cleanup";

export const FieldManager = "kustomize-controller";

export type Action = "created" | "configured" | "unchanged" | "deleted" | "skipped";

export interface ChangeSetEntry {
  id: ObjectId;
  /** "Kind/namespace/name" */
  subject: string;
  action: Action;
  /** API version applied (for the inventory). */
  v: string;
  /** The object as stored (or as a dry run shows it), for drift detection. */
  result?: Record<string, unknown>;
}

export type ChangeSet = ChangeSetEntry[];

/** An apply failure naming the objects it concerns; `stage` tells how far the apply got. */
export class ApplyError extends Error {
  override name = "ApplyError";
  constructor(
    message: string,
    readonly stage: StageName | "prune",
    readonly changes: ChangeSet = [],
  ) {
    super(message);
  }
}

/** Summarises a ChangeSet the way Flux's events do: one "Kind/ns/name action" line per change. */
export function changeSetSummary(cs: ChangeSet, include: (a: Action) => boolean = (a) => a !== "unchanged" && a !== "skipped"): string {
  return cs.filter((e) => include(e.action)).map((e) => `${e.subject} ${e.action}`).join("\n");
}

export function countActions(cs: ChangeSet): Record<Action, number> {
  const out: Record<Action, number> = { created: 0, configured: 0, unchanged: 0, deleted: 0, skipped: 0 };
  for (const e of cs) out[e.action]++;
  return out;
}

const immutablePattern = /field is immutable|is immutable|may not change once set|cannot be changed|Forbidden: updates to .* are forbidden/i;
export const isImmutableError = (err: unknown): boolean => err instanceof ApiError && err.status === 422 && immutablePattern.test(err.message);

export interface ApplyOptions {
  /** spec.force: recreate objects whose immutable fields changed. */
  force: boolean;
  signal: AbortSignal;
  /** Budget for waiting on CRDs/Namespaces between stages. */
  waitTimeoutMs: number;
  /**
   * Inventory ids of what the previous apply wrote. An object outside it is most likely new: its dry run goes
   * first and, when that shows the object does not exist, the read of the live object is skipped.
   */
  previous?: ReadonlySet<string>;
}

interface Planned {
  obj: Manifest;
  ref: ResourceRef;
  live?: Record<string, unknown>;
  dryRun?: Record<string, unknown>;
  /**
   * "probe": an object that is most likely new, applied before the rest of its stage without a dry run of
   * its own: its apply is its validation, and nothing else of the stage is written unless it succeeds.
   */
  mode: "apply" | "recreate" | "skip" | "probe";
  /** JSON patch handing kubectl-owned fields to this manager (Flux's cleanup), applied before the apply. */
  cleanup?: unknown[];
}

/** Fields that differ on every write or are not ours to compare. */
function comparable(o: Record<string, unknown>): unknown {
  const { metadata, status: _status, ...rest } = o as { metadata: Record<string, unknown>; status?: unknown };
  const { managedFields: _m, resourceVersion: _r, generation: _g, ...md } = metadata ?? {};
  return { ...rest, metadata: md };
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ka = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const kb = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual(ao[k], bo[k]));
}

export class ResourceManager {
  constructor(
    private readonly client: KubeClient,
    private readonly mapper: RestMapper,
    /** Called for each object as it is settled (applied, unchanged or skipped), e.g. to record drift baselines. */
    private readonly onEntry?: (e: ChangeSetEntry, obj: Manifest, ref: ResourceRef) => void,
    /** Called before this manager deletes an object (prune, recreate), so watchers do not take it for drift. */
    private readonly beforeDelete?: (id: ObjectId) => void,
  ) {}

  /** Applies all objects stage by stage; each stage is dry-run validated as a whole before it is written. */
  async applyAllStaged(objects: Manifest[], o: ApplyOptions): Promise<ChangeSet> {
    const all: ChangeSet = [];
    for (const stage of stages(objects)) {
      const changes = await this.applyStage(stage.name, stage.objects, o, all);
      all.push(...changes);
      if (stage.name !== "resources") await this.waitDefinitions(stage.objects, o);
    }
    return all;
  }

  private async applyStage(stage: StageName, objects: Manifest[], o: ApplyOptions, before: ChangeSet): Promise<ChangeSet> {
    const planned: Planned[] = [];
    const errors: string[] = [];
    const probe = objects.findLast((obj) => this.likelyNew(obj, o));
    await Promise.all(
      chunk(objects, 8).map(async (batch) => {
        for (const obj of batch) {
          try {
            const p = obj === probe ? await this.planProbe(obj, o) : await this.plan(obj, o);
            planned.push(p);
          } catch (err) {
            errors.push(`${describe(obj)} dry-run failed: ${reasonText(err)}`);
          }
        }
      }),
    );
    const probed = planned.find((p) => p.mode === "probe");
    if (errors.length) {
      // The stage fails: report every object that would fail, the probe included.
      if (probed) await this.plan(probed.obj, { ...o, previous: undefined }).catch((err: unknown) => errors.push(`${describe(probed.obj)} dry-run failed: ${reasonText(err)}`));
      throw new ApplyError(errors.sort().join("\n"), stage, before);
    }
    let first: (ChangeSetEntry & { obj: Manifest }) | undefined;
    if (probed) {
      // The rest of the stage passed its dry run; the probe's own apply validates it before anything else is
      // written. When it fails, nothing was written: the probe takes the full path (read, dry run) instead.
      try {
        first = await this.write(probed, o);
        this.onEntry?.(first, probed.obj, probed.ref);
      } catch {
        planned.splice(planned.indexOf(probed), 1);
        try {
          planned.push(await this.plan(probed.obj, { ...o, previous: undefined }));
        } catch (err) {
          throw new ApplyError(`${describe(probed.obj)} dry-run failed: ${reasonText(err)}`, stage, before);
        }
      }
    }
    // The stage passed its dry run: write its objects, several at a time (objects of one stage do not depend on
    // each other's existence; the stages order definitions before what uses them).
    const order = new Map(objects.map((obj, i) => [obj, i]));
    const settled: (ChangeSetEntry & { obj: Manifest })[] = first ? [first] : [];
    const failed: string[] = [];
    await Promise.all(
      chunk(first ? planned.filter((p) => p.mode !== "probe") : planned, 8).map(async (batch) => {
        for (const p of batch) {
          if (o.signal.aborted) return;
          try {
            const e = await this.write(p, o);
            settled.push(e);
            this.onEntry?.(e, p.obj, p.ref);
          } catch (err) {
            failed.push(`${describe(p.obj)} apply failed: ${reasonText(err)}`);
          }
        }
      }),
    );
    const changes = settled.sort((a, b) => order.get(a.obj)! - order.get(b.obj)!).map(({ obj: _obj, ...e }) => e);
    if (failed.length) throw new ApplyError(failed.sort().join("\n"), stage, [...before, ...changes]);
    o.signal.throwIfAborted();
    return changes;
  }

  /** Writes one planned object (or settles it without a write when it is skipped or unchanged). */
  private async write(p: Planned, o: ApplyOptions): Promise<ChangeSetEntry & { obj: Manifest }> {
    const base = { obj: p.obj, id: objectIdOf(p.obj), subject: describe(p.obj), v: versionOf(p.obj.apiVersion) };
    if (p.mode === "skip") return { ...base, action: "skipped", result: p.live };
    if (p.mode === "apply" && !p.cleanup && p.live && p.dryRun && deepEqual(comparable(p.dryRun), comparable(p.live))) {
      return { ...base, action: "unchanged", result: p.live };
    }
    if (p.mode === "probe") {
      const { object, created } = await this.ssa(p.obj, p.ref, false, o.signal);
      if (created) return { ...base, action: "created", result: object };
      // It existed after all (outside the inventory): as the full path would have, hand kubectl-owned fields
      // over, then apply again so that fields only kubectl set are dropped.
      const cleanup = cleanupFor(p.obj, object);
      if (!cleanup) return { ...base, action: "configured", result: object };
      await this.patchCleanup(p, cleanup, o.signal);
      return { ...base, action: "configured", result: (await this.ssa(p.obj, p.ref, false, o.signal)).object };
    }
    if (p.mode === "recreate") await this.deleteAndWait(p, o);
    if (p.mode === "apply" && p.cleanup) await this.patchCleanup(p, p.cleanup, o.signal);
    const result = (await this.ssa(p.obj, p.ref, false, o.signal)).object;
    const action: Action = !p.live || p.mode === "recreate" ? "created" : deepEqual(comparable(result), comparable(p.live)) ? "unchanged" : "configured";
    return { ...base, action, result };
  }

  /** Not in the previous inventory and without markers that need the live object first. */
  private likelyNew(obj: Manifest, o: ApplyOptions): boolean {
    if (!o.previous || o.previous.has(formatId(objectIdOf(obj)))) return false;
    return !reconcileDisabled(obj) && !ssaIgnore(obj) && !ssaIfNotPresent(obj);
  }

  /** The probe's plan: its mapping only; see Planned.mode. */
  private async planProbe(obj: Manifest, o: ApplyOptions): Promise<Planned> {
    return { obj, ref: await this.resourceOf(obj, o), mode: "probe" };
  }

  /** The object's resource; a cluster-scoped object loses a namespace it was given. */
  private async resourceOf(obj: Manifest, o: ApplyOptions): Promise<ResourceRef> {
    const ref = await this.mapper.mapping(obj.apiVersion, obj.kind, o.signal);
    if (!ref) throw new Error(`no matches for kind "${obj.kind}" in version "${obj.apiVersion}"`);
    if (ref.namespaced && !obj.metadata.namespace) throw new Error(`namespace not specified`);
    if (!ref.namespaced && obj.metadata.namespace) delete obj.metadata.namespace;
    return ref;
  }

  private async plan(obj: Manifest, o: ApplyOptions): Promise<Planned> {
    const ref = await this.resourceOf(obj, o);
    if (ssaIgnore(obj)) return { obj, ref, mode: "skip" };
    if (o.previous && !o.previous.has(formatId(objectIdOf(obj))) && !reconcileDisabled(obj)) {
      // A dry run of a create carries no resourceVersion: the object is absent, which is all the read below
      // would tell. Any other outcome (it exists, or the dry run fails) takes the full path.
      try {
        const { object: dryRun } = await this.ssa(obj, ref, true, o.signal);
        if (!(dryRun.metadata as { resourceVersion?: string } | undefined)?.resourceVersion) return { obj, ref, dryRun, mode: "apply" };
      } catch {
        // reported by the full path
      }
    }
    let live: Record<string, unknown> | undefined;
    try {
      live = await this.client.get<Record<string, unknown>>(ref, obj.metadata.namespace, obj.metadata.name, { signal: o.signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (ssaIfNotPresent(obj) && live) return { obj, ref, live, mode: "skip" };
    if (applyExcluded(obj, live)) return { obj, ref, live, mode: "skip" };
    try {
      const { object: dryRun } = await this.ssa(obj, ref, true, o.signal);
      return { obj, ref, live, dryRun, mode: "apply", cleanup: live && cleanupFor(obj, live) };
    } catch (err) {
      const forced = o.force || forceEnabled(obj) || forceEnabled(live);
      if (live && forced && isImmutableError(err)) return { obj, ref, live, mode: "recreate" };
      throw err;
    }
  }

  private ssa(obj: Manifest, ref: ResourceRef, dryRun: boolean, signal: AbortSignal): Promise<{ object: Record<string, unknown>; created: boolean }> {
    return this.client.apply<Record<string, unknown>>(ref, obj, FieldManager, { dryRun, signal });
  }

  private async patchCleanup(p: Planned, ops: unknown[], signal: AbortSignal): Promise<void> {
    await this.client.patch(p.ref, p.obj.metadata.namespace, p.obj.metadata.name, ops, { contentType: "application/json-patch+json", signal });
  }

  private async deleteAndWait(p: Planned, o: ApplyOptions): Promise<void> {
    const ns = p.obj.metadata.namespace;
    this.beforeDelete?.(objectIdOf(p.obj));
    try {
      await this.client.delete(p.ref, ns, p.obj.metadata.name, { signal: o.signal, body: { propagationPolicy: "Foreground" } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const deadline = Date.now() + o.waitTimeoutMs;
    while (Date.now() < deadline && !o.signal.aborted) {
      try {
        await this.client.get(p.ref, ns, p.obj.metadata.name, { signal: o.signal });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      await sleep(200, o.signal);
    }
    throw new Error(`timed out waiting for ${describe(p.obj)} to be deleted before recreating it`);
  }

  /** After the definitions stages: CRDs Established (and their group-version re-discovered), Namespaces Active. */
  private async waitDefinitions(objects: Manifest[], o: ApplyOptions): Promise<void> {
    const deadline = Date.now() + o.waitTimeoutMs;
    for (const obj of objects) {
      if (obj.kind !== "CustomResourceDefinition" && obj.kind !== "Namespace") continue;
      const ref = await this.mapper.mapping(obj.apiVersion, obj.kind, o.signal);
      if (!ref) continue;
      for (;;) {
        const live = await this.client.get<{ status?: { phase?: string; conditions?: { type: string; status: string }[] } }>(ref, undefined, obj.metadata.name, { signal: o.signal });
        const ok = obj.kind === "Namespace" ? live.status?.phase === "Active" : live.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
        if (ok) break;
        if (Date.now() > deadline || o.signal.aborted) throw new ApplyError(`${describe(obj)} is not ${obj.kind === "Namespace" ? "Active" : "Established"} after ${Math.round(o.waitTimeoutMs / 1000)}s`, "cluster definitions");
        await sleep(200, o.signal);
      }
      if (obj.kind === "CustomResourceDefinition") {
        // Discovery serves the new kind shortly after Established: wait until it does.
        const spec = (obj as unknown as { spec?: { group?: string; names?: { kind?: string }; versions?: { name: string; served?: boolean }[] } }).spec;
        for (const v of (spec?.versions ?? []).filter((x) => x.served !== false)) {
          const apiVersion = `${spec?.group}/${v.name}`;
          this.mapper.invalidate(apiVersion);
          while (!(await this.mapper.mapping(apiVersion, spec?.names?.kind ?? "", o.signal))) {
            if (Date.now() > deadline || o.signal.aborted) throw new ApplyError(`${describe(obj)}: kind ${spec?.names?.kind} in ${apiVersion} is not served after ${Math.round(o.waitTimeoutMs / 1000)}s`, "cluster definitions");
            await sleep(200, o.signal);
            this.mapper.invalidate(apiVersion);
          }
        }
      }
    }
  }

  /**
   * Deletes the given inventory entries (reverse apply order). Objects annotated prune: disabled, or no longer
   * labelled as owned by this Kustomization, are skipped; objects already gone are left out.
   */
  async deleteAll(entries: { id: ObjectId; v: string }[], owner: { name: string; namespace: string }, signal: AbortSignal, waitTimeoutMs?: number): Promise<ChangeSet> {
    const changes: ChangeSet = [];
    const errors: string[] = [];
    const deleted: { ref: ResourceRef; id: ObjectId }[] = [];
    for (const e of pruneOrder(entries)) {
      const apiVersion = e.id.group ? `${e.id.group}/${e.v}` : e.v;
      const subject = describeId(e.id);
      try {
        const ref = await this.mapper.mapping(apiVersion, e.id.kind, signal);
        if (!ref) continue;
        const ns = ref.namespaced ? e.id.namespace : undefined;
        let live: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string } };
        try {
          live = await this.client.get(ref, ns, e.id.name, { signal });
        } catch (err) {
          if (isNotFound(err)) continue;
          throw err;
        }
        const labels = live.metadata.labels ?? {};
        const owned = labels[KustomizeNameLabel] === owner.name && labels[KustomizeNamespaceLabel] === owner.namespace;
        if (pruneExcluded(live) || !owned) {
          changes.push({ id: e.id, subject, action: "skipped", v: e.v });
          continue;
        }
        if (!live.metadata.deletionTimestamp) {
          this.beforeDelete?.(e.id);
          try {
            await this.client.delete(ref, ns, e.id.name, { signal, body: { propagationPolicy: "Background" } });
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        deleted.push({ ref, id: e.id });
        changes.push({ id: e.id, subject, action: "deleted", v: e.v });
      } catch (err) {
        errors.push(`${subject} delete failed: ${reasonText(err)}`);
      }
    }
    if (errors.length) throw new ApplyError(errors.join("\n"), "prune", changes);
    if (waitTimeoutMs) await this.waitDeleted(deleted, signal, waitTimeoutMs);
    return changes;
  }

  private async waitDeleted(objs: { ref: ResourceRef; id: ObjectId }[], signal: AbortSignal, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const { ref, id } of objs) {
      for (;;) {
        try {
          await this.client.get(ref, ref.namespaced ? id.namespace : undefined, id.name, { signal });
        } catch (err) {
          if (isNotFound(err)) break;
          throw err;
        }
        if (Date.now() > deadline || signal.aborted) throw new ApplyError(`timed out waiting for ${describeId(id)} to be deleted`, "prune");
        await sleep(250, signal);
      }
    }
  }
}

/** The cleanup for a live object unless the manifest or the live object asks to merge with other managers (ssa: Merge). */
function cleanupFor(obj: Manifest, live: Record<string, unknown>): unknown[] | undefined {
  return ssaMerge(obj) || ssaMerge(live) ? undefined : cleanupPatch(live, obj.apiVersion);
}

/** The JSON patch for Flux's ownership cleanup of a live object, or undefined when there is nothing to do. */
function cleanupPatch(live: Record<string, unknown>, apiVersion: string): unknown[] | undefined {
  const md = live.metadata as { resourceVersion?: string; managedFields?: ManagedFieldsEntry[]; annotations?: Record<string, string> };
  const ops: unknown[] = [];
  const fields = cleanedManagedFields(md.managedFields, FieldManager, apiVersion);
  if (fields) ops.push({ op: "replace", path: "/metadata/managedFields", value: fields });
  if (md.annotations?.[LastAppliedAnnotation] !== undefined) ops.push({ op: "remove", path: `/metadata/annotations/${LastAppliedAnnotation.replace(/~/g, "~0").replace(/\//g, "~1")}` });
  if (!ops.length) return undefined;
  return [{ op: "test", path: "/metadata/resourceVersion", value: md.resourceVersion }, ...ops];
}

function reasonText(err: unknown): string {
  if (err instanceof ApiError) return err.reason && err.reason !== "Unknown" ? `${err.message} (${err.reason})` : err.message;
  return err instanceof Error ? err.message : String(err);
}

function chunk<T>(items: T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: Math.min(n, items.length) }, () => []);
  items.forEach((x, i) => out[i % out.length]!.push(x));
  return out;
}
