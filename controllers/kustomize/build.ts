// Build: run the pinned kustomize binary on a prepared directory (root-only load restrictor, no plugins,
// exec or helm), then post-build: variable substitution, commonMetadata and the ownership labels.
import { execFile } from "node:child_process";
import * as os from "node:os";
import { parseDocument } from "yaml";
import { BuildError } from "./generate";
import { substitute, SubstitutionError } from "./substitute";
import { describe, type Manifest } from "./inventory";
import { KustomizeNameLabel, KustomizeNamespaceLabel, SubstituteAnnotation } from "../api/kustomize";

export interface KustomizeRun {
  /** Path of the kustomize binary. */
  bin: string;
  /** Directory holding the kustomization file. */
  dir: string;
  /** The artifact root, stripped from error messages so they name files as in git. */
  root: string;
  signal: AbortSignal;
}

/**
 * kustomize processes at once, however many reconciles run (--concurrent): each is a Go process of tens of
 * MiB and a core's worth of work, while a reconcile mostly waits for the apiserver.
 */
export const maxKustomizeProcesses = Math.max(2, Math.min(4, os.availableParallelism()));

/** A counting semaphore whose waiters leave the queue when their signal aborts. */
export class Slots {
  private used = 0;
  private readonly waiting: { grant: () => void }[] = [];

  constructor(readonly size: number) {}

  get inUse(): number {
    return this.used;
  }

  async run<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          this.used++;
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private release(): void {
    this.used--;
    this.waiting.shift()?.grant();
  }
}

const kustomizeProcesses = new Slots(maxKustomizeProcesses);

/** `kustomize build` of the directory, at most maxKustomizeProcesses at once in this process. */
export function kustomizeBuild(r: KustomizeRun): Promise<string> {
  return kustomizeProcesses.run(r.signal, () => runKustomize(r)).catch((err: unknown) => {
    if (r.signal.aborted && !(err instanceof BuildError)) throw new BuildError(`kustomize build timed out`);
    throw err;
  });
}

function runKustomize(r: KustomizeRun): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      r.bin,
      ["build", r.dir, "--load-restrictor", "LoadRestrictionsRootOnly"],
      { signal: r.signal, maxBuffer: 128 << 20, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: r.root }, cwd: r.root },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if (r.signal.aborted) return reject(new BuildError(`kustomize build timed out`));
        const text = (stderr || err.message).trim().split(r.root + "/").join("").split(r.root).join(".");
        reject(new BuildError(`kustomize build failed: ${text.replace(/^Error: /, "")}`));
      },
    );
  });
}

export interface PostBuildOptions {
  /** Substitution variables; undefined when postBuild is not set (no substitution at all). */
  vars?: Record<string, string>;
  strict: boolean;
  owner: { name: string; namespace: string };
  commonMetadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

/**
 * Splits kustomize's output into objects, applying substitution, commonMetadata and ownership labels. Objects
 * built in process come as objects (there is no substitution for them).
 */
export function postBuild(output: string | Manifest[], o: PostBuildOptions): Manifest[] {
  if (Array.isArray(output)) {
    if (o.vars) throw new Error("postBuild: substitution needs the build output as text");
    for (const obj of output) label(obj, o);
    return output;
  }
  const docs = output.split(/^---[ \t]*$/m).filter((d) => d.trim() !== "");
  const out: Manifest[] = [];
  for (const text of docs) {
    let obj = decode(text, undefined);
    if (o.vars && !substitutionDisabled(obj)) {
      let replaced: string;
      try {
        replaced = substitute(text, o.vars, o.strict);
      } catch (err) {
        if (err instanceof SubstitutionError) throw new BuildError(`post build failed for '${describe(obj)}': ${err.message}`);
        throw err;
      }
      if (replaced !== text) obj = decode(replaced, describe(obj));
    }
    out.push(label(obj, o));
  }
  return out;
}

/** commonMetadata and the ownership labels. */
function label(obj: Manifest, o: PostBuildOptions): Manifest {
  const md = obj.metadata;
  if (o.commonMetadata?.labels) md.labels = { ...(md.labels ?? {}), ...o.commonMetadata.labels };
  if (o.commonMetadata?.annotations) md.annotations = { ...(md.annotations ?? {}), ...o.commonMetadata.annotations };
  md.labels = { ...(md.labels ?? {}), [KustomizeNameLabel]: o.owner.name, [KustomizeNamespaceLabel]: o.owner.namespace };
  return obj;
}

function substitutionDisabled(m: Manifest): boolean {
  return m.metadata.annotations?.[SubstituteAnnotation] === "disabled" || m.metadata.labels?.[SubstituteAnnotation] === "disabled";
}

function decode(text: string, what: string | undefined): Manifest {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new BuildError(`failed to decode ${what ? `'${what}' after substitution` : "build output"}: ${doc.errors[0]!.message.split("\n")[0]}`);
  const v = doc.toJS() as Partial<Manifest> | null;
  if (!v || typeof v !== "object" || typeof v.apiVersion !== "string" || typeof v.kind !== "string" || typeof v.metadata?.name !== "string") {
    throw new BuildError(`object without apiVersion, kind or metadata.name in build output${what ? ` ('${what}')` : ""}: ${text.trim().slice(0, 120)}`);
  }
  return v as Manifest;
}
