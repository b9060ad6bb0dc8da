// Artifact → manifests: download and verify, extract safely into a temp dir, prepare the kustomization
// (found or generated, plus the spec's overrides), confine references, run kustomize, then post-build.
import { withDeadline } from "../runtime/abort";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { ReconcileError } from "../runtime/errors";
import { isNotFound, type KubeClient, type ResourceRef } from "../runtime/kube";
import { ArtifactFailedReason, type Artifact } from "../api/source";
import { BuildFailedReason, type Kustomization } from "../api/kustomize";
import { ArtifactError, downloadArtifact, extractArtifact, writeEntries } from "./artifact";
import type { ArtifactCache, ArtifactFiles } from "./artifactcache";
import { plainBuild, plainBuildFiles } from "./plainbuild";
import { BuildError, checkReferences, prepareKustomization } from "./generate";
import { kustomizeBuild, postBuild } from "./build";
import { invalidVarNames, varsFromData } from "./substitute";
import { refuseEncrypted } from "./sops";
import type { Manifest } from "./inventory";
import type { Logger } from "pino";

export interface BuildOptions {
  kustomizePath: string;
  noRemoteBases: boolean;
  strictSubstitutions: boolean;
  signal: AbortSignal;
  log?: Logger;
  /** Shared unpacked artifacts; without it each build downloads and extracts the whole artifact. */
  artifacts?: ArtifactCache;
}

/** Upper bounds for the steps of a build, below spec.timeout, so a stalled download or build fails and retries. */
const downloadTimeoutMs = 60_000;
const kustomizeTimeoutMs = 120_000;

const ConfigMaps: ResourceRef = { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true };
const Secrets: ResourceRef = { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true };

const buildFailed = (message: string, cause?: unknown) => new ReconcileError(BuildFailedReason, message, { cause });

/** The variables of spec.postBuild, or undefined when there is no postBuild (no substitution runs). */
export async function substitutionVars(ks: Kustomization, client: KubeClient, signal: AbortSignal): Promise<Record<string, string> | undefined> {
  const pb = ks.spec.postBuild;
  if (!pb) return undefined;
  const vars: Record<string, string> = {};
  for (const ref of pb.substituteFrom ?? []) {
    const res = ref.kind === "Secret" ? Secrets : ConfigMaps;
    try {
      const obj = await client.get<{ data?: Record<string, string> }>(res, ks.metadata.namespace, ref.name, { signal });
      Object.assign(vars, varsFromData(ref.kind, obj));
    } catch (err) {
      if (isNotFound(err) && ref.optional) continue;
      const why = isNotFound(err) ? "not found" : (err as Error).message;
      throw buildFailed(`substitute from '${ref.kind}/${ks.metadata.namespace}/${ref.name}' failed: ${why}`, err);
    }
  }
  Object.assign(vars, pb.substitute ?? {});
  const bad = invalidVarNames(vars);
  if (bad.length) throw buildFailed(`postBuild variable names must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$, got: ${bad.map((b) => `'${b}'`).join(", ")}`);
  return vars;
}

/** A key for the build output: same artifact, spec and variables give the same manifests. */
export function buildKey(artifact: Artifact, ks: Kustomization, vars: Record<string, string> | undefined): string {
  const h = createHash("sha256");
  h.update(artifact.digest ?? artifact.revision);
  h.update(JSON.stringify({ spec: ks.spec, ns: ks.metadata.namespace, name: ks.metadata.name }));
  h.update(JSON.stringify(vars ?? null));
  return h.digest("hex");
}

/** Normalises spec.path; it must stay inside the artifact. */
export function normalisePath(p: string | undefined): string {
  const rel = path.posix.normalize((p ?? "./").replace(/^\/+/, "")).replace(/\/+$/, "");
  if (rel === ".." || rel.startsWith("../")) throw buildFailed(`kustomization path '${p}' points outside the source artifact`);
  return rel === "." || rel === "" ? "" : rel;
}

/** The shared, unpacked artifact; fetch failures are ArtifactFailed. */
async function fetchShared(cache: ArtifactCache, artifact: Artifact, signal: AbortSignal): Promise<ArtifactFiles> {
  try {
    return await withDeadline(signal, downloadTimeoutMs, (s) => cache.files(artifact.url, artifact.digest, s));
  } catch (err) {
    if (err instanceof ArtifactError) throw new ReconcileError(ArtifactFailedReason, err.message, { cause: err });
    throw new ReconcileError(ArtifactFailedReason, `failed to fetch artifact: ${(err as Error).message}`, { cause: err });
  }
}

/** normalisePath, or "" (the whole artifact) when the path is invalid: the build reports that afterwards. */
function safePath(p: string | undefined): string {
  try {
    return normalisePath(p);
  } catch {
    return "";
  }
}

/**
 * The manifests of the Kustomization at this artifact, substituted and labelled. A build holding SOPS-encrypted
 * objects fails (see refuseEncrypted): nothing of it reaches the apply.
 */
export async function buildManifests(ks: Kustomization, artifact: Artifact, vars: Record<string, string> | undefined, o: BuildOptions): Promise<Manifest[]> {
  const manifests = await build(ks, artifact, vars, o);
  refuseEncrypted(manifests, ks.spec.decryption);
  return manifests;
}

async function build(ks: Kustomization, artifact: Artifact, vars: Record<string, string> | undefined, o: BuildOptions): Promise<Manifest[]> {
  const post = { vars, strict: o.strictSubstitutions, owner: { name: ks.metadata.name, namespace: ks.metadata.namespace! }, commonMetadata: ks.spec.commonMetadata };
  const files = o.artifacts ? await fetchShared(o.artifacts, artifact, o.signal) : undefined;
  if (files) {
    // Plain manifests need neither a directory on disk nor kustomize: build straight from memory.
    const subtree = files.plainSubtree(safePath(ks.spec.path));
    const started = Date.now();
    const objects = subtree && plainBuildFiles(subtree, ks.spec);
    if (objects) {
      o.log?.debug({ revision: artifact.revision, ms: Date.now() - started }, "plain manifests built in memory");
      return postBuild(objects, post);
    }
  }
  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), "mooring-kustomize-"));
  try {
    const root = path.join(tmp, "source");
    await fs.promises.mkdir(root);
    try {
      const started = Date.now();
      if (files) {
        // One download per revision for all Kustomizations; each build writes out only what it reads.
        await writeEntries(files.forBuild(safePath(ks.spec.path), (ks.spec.components?.length ?? 0) > 0), root);
      } else {
        await extractArtifact(await withDeadline(o.signal, downloadTimeoutMs, (s) => downloadArtifact(artifact.url, artifact.digest, s)), root);
      }
      o.log?.debug({ revision: artifact.revision, ms: Date.now() - started }, "artifact fetched and extracted");
    } catch (err) {
      if (err instanceof ArtifactError) throw new ReconcileError(ArtifactFailedReason, err.message, { cause: err });
      throw new ReconcileError(ArtifactFailedReason, `failed to fetch artifact: ${(err as Error).message}`, { cause: err });
    }
    const rel = normalisePath(ks.spec.path);
    const dir = path.join(root, rel);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new ReconcileError(ArtifactFailedReason, `kustomization path '${ks.spec.path ?? "./"}' not found in revision ${artifact.revision}`);
    }
    try {
      const started = Date.now();
      let output: string | Manifest[] | undefined = plainBuild(dir, ks.spec);
      if (output === undefined) {
        prepareKustomization(dir, root, ks.spec);
        checkReferences(dir, root, o.noRemoteBases);
        output = await withDeadline(o.signal, kustomizeTimeoutMs, (signal) => kustomizeBuild({ bin: o.kustomizePath, dir, root, signal }));
        o.log?.debug({ revision: artifact.revision, ms: Date.now() - started }, "kustomize build completed");
      } else o.log?.debug({ revision: artifact.revision, ms: Date.now() - started }, "plain manifests built in process");
      return postBuild(output, post);
    } catch (err) {
      if (err instanceof BuildError) throw buildFailed(err.message, err);
      throw err;
    }
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}
