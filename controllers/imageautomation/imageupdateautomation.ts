// The ImageUpdateAutomation reconciler: the latest images of the selected ImagePolicies (same namespace,
// policySelector) are written at their markers in a checkout of the GitRepository's branch; a change becomes
// one commit pushed to the push branch (rebased and retried when the branch moved), no change no commit.
// Status: lastAutomationRunTime, observedPolicies, observedSourceRevision, lastPushCommit and lastPushTime.
import * as fs from "node:fs";
import * as os from "node:os";
import type { Action, ErrorPolicy, Reconciler } from "../runtime/controller";
import type { Session } from "../runtime/session";
import { withDeadline } from "../runtime/abort";
import { ReconcileError, errorMessage } from "../runtime/errors";
import { markReady, rfc3339 } from "../runtime/conditions";
import { SucceededReason } from "../api/meta";
import { parseDuration } from "../api/duration";
import { GitOperationFailedReason, type GitRepository, type GitRepositoryRef } from "../api/source";
import { InvalidPolicySelectorReason, InvalidSourceConfigReason, UpdateFailedReason, type ImagePolicy, type ImageRef, type ImageUpdateAutomation, type LabelSelector } from "../api/image";
import { GitError } from "../source/git";
import { loadGitAuth } from "../source/secrets";
import { readSecret } from "../source/helmsecrets";
import { parseGitUrl } from "../source/gitrepository";
import { commitAndPush, PushRejectedError, type CheckoutTarget, type CommitSpec } from "./gitwork";
import { SetterError } from "./setters";
import { defaultMessageTemplate, templateData, updateFiles } from "./update";
import { renderTemplate, TemplateError } from "./template";

export const imageUpdateAutomationErrorPolicy: ErrorPolicy<ImageUpdateAutomation> = { reason: GitOperationFailedReason };

export interface ImageUpdateAutomationReconcilerOptions {
  gitRepository: (key: string) => GitRepository | undefined;
  policies: (namespace: string) => ImagePolicy[];
  /** Scratch root for checkouts (default the OS temp directory). */
  tempDir?: string;
}

/** Whether labels match a Kubernetes label selector; throws for an invalid selector. */
export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const values = e.values ?? [];
    if ((e.operator === "In" || e.operator === "NotIn") && !values.length) throw new Error(`matchExpressions: operator '${e.operator}' of key '${e.key}' needs values`);
    if ((e.operator === "Exists" || e.operator === "DoesNotExist") && values.length) throw new Error(`matchExpressions: operator '${e.operator}' of key '${e.key}' takes no values`);
    const has = e.key in labels;
    if (e.operator === "In" && !(has && values.includes(labels[e.key]!))) return false;
    if (e.operator === "NotIn" && has && values.includes(labels[e.key]!)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

function checkoutTarget(ref: GitRepositoryRef): { target: CheckoutTarget; branch?: string; label: string } {
  if (ref.name) return { target: { fetchRef: ref.name }, branch: ref.name.startsWith("refs/heads/") ? ref.name.slice(11) : undefined, label: ref.name };
  if (ref.commit) return { target: { commit: ref.commit, fetchRef: ref.branch ? `refs/heads/${ref.branch}` : undefined }, branch: ref.branch, label: ref.commit };
  if (ref.tag) return { target: { fetchRef: `refs/tags/${ref.tag}` }, label: ref.tag };
  const branch = ref.branch ?? "master";
  return { target: { fetchRef: `refs/heads/${branch}` }, branch, label: branch };
}

const gitError = (err: unknown): ReconcileError => {
  if (err instanceof ReconcileError) return err;
  if (err instanceof PushRejectedError) return new ReconcileError(GitOperationFailedReason, `push refused by the git server: ${err.message}`, { cause: err });
  if (err instanceof GitError) return new ReconcileError(GitOperationFailedReason, err.message, { cause: err });
  return new ReconcileError(GitOperationFailedReason, errorMessage(err), { cause: err });
};

export class ImageUpdateAutomationReconciler implements Reconciler<ImageUpdateAutomation> {
  constructor(private readonly o: ImageUpdateAutomationReconcilerOptions) {}

  reconcile(s: Session<ImageUpdateAutomation>): Promise<Action | void> {
    return s.withFinalizer(
      () => this.run(s),
      () => Promise.resolve(),
    );
  }

  private async run(s: Session<ImageUpdateAutomation>): Promise<Action> {
    const { obj } = s;
    const ns = obj.metadata.namespace!;
    const status = (obj.status ??= {});
    const interval = parseDuration(obj.spec.interval);
    const src = obj.spec.sourceRef;
    if (src.kind !== "GitRepository") throw new ReconcileError(InvalidSourceConfigReason, `source kind '${src.kind}' is not supported: use GitRepository`, { stalled: true });
    const srcKey = `${src.namespace ?? ns}/${src.name}`;
    const repo = this.o.gitRepository(srcKey);
    if (!repo) throw new ReconcileError(InvalidSourceConfigReason, `referenced GitRepository '${srcKey}' not found`);
    const git = obj.spec.git;
    if (!git?.commit?.author?.email) throw new ReconcileError(InvalidSourceConfigReason, "spec.git.commit.author.email is required", { stalled: true });
    const checkout = checkoutTarget(git.checkout?.ref ?? repo.spec.ref ?? {});
    const pushBranch = git.push?.branch ?? checkout.branch;
    if (!pushBranch) throw new ReconcileError(InvalidSourceConfigReason, `the checkout ref '${checkout.label}' is not a branch: set spec.git.push.branch`, { stalled: true });

    let selected: ImagePolicy[];
    try {
      selected = this.o.policies(ns).filter((p) => selectorMatches(obj.spec.policySelector, p.metadata.labels ?? {}));
    } catch (err) {
      throw new ReconcileError(InvalidPolicySelectorReason, `invalid policySelector: ${errorMessage(err)}`, { stalled: true });
    }
    const policies = new Map<string, ImageRef>();
    const observed: Record<string, ImageRef> = {};
    for (const p of selected) {
      if (!p.status?.latestRef) continue;
      policies.set(`${ns}:${p.metadata.name}`, p.status.latestRef);
      observed[p.metadata.name] = p.status.latestRef;
    }

    const url = parseGitUrl(repo.spec.url);
    const commit: CommitSpec = { authorName: git.commit.author.name ?? "", authorEmail: git.commit.author.email };
    const template = git.commit.messageTemplate || defaultMessageTemplate;
    const timeout = repo.spec.timeout ? parseDuration(repo.spec.timeout) * 4 : 4 * 60_000;
    const scratch = this.o.tempDir ?? os.tmpdir();
    await fs.promises.mkdir(scratch, { recursive: true });
    const outcome = await withDeadline(s.signal, timeout, async (signal) => {
      const auth = repo.spec.secretRef ? await loadGitAuth(s.client, repo.metadata.namespace!, repo.spec.secretRef.name, url, signal) : {};
      const signingSecret = git.commit.signingKey?.secretRef?.name;
      if (signingSecret) {
        const get = await readSecret(s.client, ns, signingSecret, signal);
        const armored = get("git.asc");
        if (!armored) throw new ReconcileError(InvalidSourceConfigReason, `signing key Secret '${ns}/${signingSecret}' has no 'git.asc'`);
        commit.signingKey = { armored, passphrase: get("passphrase") };
      }
      return commitAndPush({
        url: repo.spec.url,
        auth,
        checkout: checkout.target,
        push: { branch: pushBranch, refspec: git.push?.refspec, options: git.push?.options },
        commit,
        scratch,
        signal,
        edit: async (tree) => {
          let result;
          try {
            result = await updateFiles(tree, obj.spec.update?.path, policies);
          } catch (err) {
            if (err instanceof SetterError) throw new ReconcileError(UpdateFailedReason, `failed to update '${obj.spec.update?.path ?? "."}': ${err.message}`, { stalled: true });
            throw err;
          }
          if (!result.files.size) return undefined;
          try {
            return renderTemplate(template, templateData({ namespace: ns, name: obj.metadata.name }, result, git.commit.messageTemplateValues));
          } catch (err) {
            if (err instanceof TemplateError) throw new ReconcileError(InvalidSourceConfigReason, `invalid spec.git.commit.messageTemplate: ${err.message}`, { stalled: true });
            throw err;
          }
        },
      }).catch((err: unknown) => {
        throw gitError(err);
      });
    });
    const now = rfc3339(new Date());
    status.lastAutomationRunTime = now;
    status.observedPolicies = observed;
    status.observedSourceRevision = `${checkout.branch ?? checkout.label}@sha1:${outcome.base}`;
    if (outcome.pushed) {
      status.lastPushCommit = outcome.pushed;
      status.lastPushTime = now;
      status.observedSourceRevision = `${pushBranch}@sha1:${outcome.pushed}`;
      const message = `pushed commit '${outcome.pushed.slice(0, 7)}' to branch '${pushBranch}'`;
      markReady(obj, SucceededReason, message);
      s.event("Normal", SucceededReason, `${message}\n${outcome.message ?? ""}`.trimEnd());
      s.log.info({ commit: outcome.pushed, branch: pushBranch, attempts: outcome.attempts, ms: Date.now() - s.startedAt }, message);
    } else {
      markReady(obj, SucceededReason, "repository up-to-date");
      s.log.info({ revision: status.observedSourceRevision, policies: Object.keys(observed).length }, "no updates made");
    }
    return { requeueAfter: interval };
  }
}
