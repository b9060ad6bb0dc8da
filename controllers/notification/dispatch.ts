// Event → Alerts → Providers. The events endpoint hands each accepted event here; matching runs on the
// informers' caches, Secrets are read at send time (never cached, never logged), and each notification is
// sent in the background with a few retries, so a slow provider never holds up the endpoint.
import * as YAML from "yaml";
import type { Logger } from "pino";
import type { KubeClient, ResourceRef } from "../runtime/kube";
import { isNotFound } from "../runtime/kube";
import { errorMessage } from "../runtime/errors";
import type { FluxEvent } from "../runtime/fluxevents";
import { parseDuration } from "../source/duration";
import { commitStatusProviderTypes, MetaCommitStatusKey, MetaCommitStatusUpdateValue, type Alert, type Provider, type ProviderType } from "../api/notification";
import { alertMatches, alertMetadata, compileFilter, type LabelLookup } from "./match";
import { providerMetadata } from "./event";
import { commitStatusFromExpr } from "./cel";
import { providerModules, type Notification, type ProviderConfig } from "./providers";
import { ProviderHttpError, type ProxySettings, type TlsMaterial } from "./providers/http";

export const SecretsRef: ResourceRef = { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true };

/** Where the event source kinds live, to read an object's labels for matchLabels. */
const sourceKindRefs: Record<string, ResourceRef> = {
  GitRepository: { kind: "GitRepository", group: "source.toolkit.fluxcd.io", version: "v1", plural: "gitrepositories", namespaced: true },
  OCIRepository: { kind: "OCIRepository", group: "source.toolkit.fluxcd.io", version: "v1", plural: "ocirepositories", namespaced: true },
  Bucket: { kind: "Bucket", group: "source.toolkit.fluxcd.io", version: "v1", plural: "buckets", namespaced: true },
  HelmRepository: { kind: "HelmRepository", group: "source.toolkit.fluxcd.io", version: "v1", plural: "helmrepositories", namespaced: true },
  HelmChart: { kind: "HelmChart", group: "source.toolkit.fluxcd.io", version: "v1", plural: "helmcharts", namespaced: true },
  Kustomization: { kind: "Kustomization", group: "kustomize.toolkit.fluxcd.io", version: "v1", plural: "kustomizations", namespaced: true },
  HelmRelease: { kind: "HelmRelease", group: "helm.toolkit.fluxcd.io", version: "v2", plural: "helmreleases", namespaced: true },
  ImageRepository: { kind: "ImageRepository", group: "image.toolkit.fluxcd.io", version: "v1", plural: "imagerepositories", namespaced: true },
  ImagePolicy: { kind: "ImagePolicy", group: "image.toolkit.fluxcd.io", version: "v1", plural: "imagepolicies", namespaced: true },
  ImageUpdateAutomation: { kind: "ImageUpdateAutomation", group: "image.toolkit.fluxcd.io", version: "v1", plural: "imageupdateautomations", namespaced: true },
};
export { sourceKindRefs };

export interface DispatcherOptions {
  client: KubeClient;
  log: Logger;
  alerts: () => Alert[];
  provider: (namespace: string, name: string) => Provider | undefined;
  noCrossNamespaceRefs?: boolean;
  /** Attempts per notification (default 3), the first retry after retryDelayMs (default 1 s), doubling. */
  attempts?: number;
  retryDelayMs?: number;
  /** Notifications waiting beyond this are dropped with a warning (default 1000). */
  maxQueued?: number;
  /** Notifications sent at once (default 4). */
  senders?: number;
}

/** A notification resolved against its Alert and Provider, waiting to be sent. */
interface Job {
  alert: string;
  /** The Alert itself, for a commitStatusExpr. */
  alertObject: Alert;
  provider: Provider;
  notification: Notification;
}

export const defaultProviderTimeoutMs = 15_000;

/** Counters for metrics and tests. */
export interface DispatchStats {
  sent: number;
  failed: number;
  dropped: number;
}

export class Dispatcher {
  private readonly queue: Job[] = [];
  private sending = 0;
  private idle: (() => void)[] = [];
  readonly stats: DispatchStats = { sent: 0, failed: 0, dropped: 0 };
  private readonly stop = new AbortController();

  constructor(private readonly o: DispatcherOptions) {}

  /** Matches the event and queues a notification per matching Alert; resolves with the Alerts' names. */
  async dispatch(event: FluxEvent): Promise<string[]> {
    const alerts = this.o.alerts();
    const labels = await this.labelLookup(event, alerts);
    const eventMeta = providerMetadata(event);
    const matched: string[] = [];
    for (const alert of alerts) {
      const filter = compileFilter(alert);
      for (const err of filter.errors) this.o.log.error({ alert: `${alert.metadata.namespace}/${alert.metadata.name}` }, err);
      if (!alertMatches(alert, event, labels, filter, this.o.noCrossNamespaceRefs).matched) continue;
      const alertName = `${alert.metadata.namespace}/${alert.metadata.name}`;
      const provider = this.o.provider(alert.metadata.namespace!, alert.spec.providerRef.name);
      if (!provider) {
        this.o.log.error({ alert: alertName, provider: alert.spec.providerRef.name }, `alert '${alertName}' references provider '${alert.spec.providerRef.name}', which does not exist`);
        continue;
      }
      if (provider.spec.suspend) continue;
      const commitStatus = commitStatusProviderTypes.includes(provider.spec.type as ProviderType);
      // "Reconciliation finished" events exist for commit statuses only.
      if (!commitStatus && eventMeta[MetaCommitStatusKey] === MetaCommitStatusUpdateValue) continue;
      const { metadata, kept } = alertMetadata(alert, eventMeta);
      if (kept.length) this.o.log.info({ alert: alertName, keys: kept }, "the event's own metadata kept over the alert's eventMetadata");
      matched.push(alertName);
      this.enqueue({ alert: alertName, alertObject: alert, provider, notification: { event, metadata } });
    }
    return matched;
  }

  /** Resolves when nothing is queued or being sent (or after timeoutMs, dropping the rest). */
  flush(timeoutMs = 10_000): Promise<void> {
    if (!this.queue.length && !this.sending) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.stats.dropped += this.queue.splice(0).length;
        this.stop.abort();
        resolve();
      }, timeoutMs);
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private enqueue(job: Job): void {
    if (this.queue.length >= (this.o.maxQueued ?? 1000)) {
      if (this.stats.dropped++ % 100 === 0) this.o.log.warn({ dropped: this.stats.dropped }, "notification queue full; dropping notifications");
      return;
    }
    this.queue.push(job);
    if (this.sending < (this.o.senders ?? 4)) void this.run();
  }

  private async run(): Promise<void> {
    this.sending++;
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) await this.send(job);
    } finally {
      this.sending--;
      if (!this.sending && !this.queue.length) for (const done of this.idle.splice(0)) done();
    }
  }

  private async send(job: Job): Promise<void> {
    const p = job.provider;
    const providerName = `${p.metadata.namespace}/${p.metadata.name}`;
    const log = this.o.log.child({ alert: job.alert, provider: providerName, type: p.spec.type });
    const module = providerModules.get(p.spec.type);
    if (!module) {
      this.stats.failed++;
      log.error(`provider type '${p.spec.type}' is not supported by Mooring (supported: ${[...providerModules.keys()].join(", ")})`);
      return;
    }
    let config: ProviderConfig;
    try {
      if (module.commitStatus && p.spec.commitStatusExpr) job.notification = { ...job.notification, commitStatusId: commitStatusOf(job, p.spec.commitStatusExpr) };
      config = await this.config(p, module.needsAddress !== false);
    } catch (err) {
      this.stats.failed++;
      log.error({ err: errorMessage(err) }, "could not prepare the notification");
      return;
    }
    const attempts = this.o.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        await module.send(job.notification, config);
        this.stats.sent++;
        log.debug({ reason: job.notification.event.reason }, "notification sent");
        return;
      } catch (err) {
        const retry = attempt < attempts && !this.stop.signal.aborted && !(err instanceof ProviderHttpError && err.status < 500 && err.status !== 429);
        if (!retry) {
          this.stats.failed++;
          log.error({ err: redact(errorMessage(err), config) }, "failed to send notification");
          return;
        }
        await new Promise((r) => setTimeout(r, (this.o.retryDelayMs ?? 1000) * 2 ** (attempt - 1)));
      }
    }
  }

  /** The Provider's settings with its Secrets read now. */
  private async config(p: Provider, needsAddress: boolean): Promise<ProviderConfig> {
    const ns = p.metadata.namespace!;
    const secret = p.spec.secretRef ? await this.secret(ns, p.spec.secretRef.name, "secretRef") : {};
    const address = secret.address?.trim() || p.spec.address || "";
    if (needsAddress && !address) throw new Error(`provider has no address: set spec.address or an 'address' key in the secretRef`);
    let headers: Record<string, string> = {};
    if (secret.headers) {
      const parsed: unknown = YAML.parse(secret.headers);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error(`secret '${ns}/${p.spec.secretRef!.name}': 'headers' must be a YAML map of header names to values`);
      headers = Object.fromEntries(Object.entries(parsed as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
    }
    let tls: TlsMaterial | undefined;
    if (p.spec.certSecretRef) {
      const c = await this.secret(ns, p.spec.certSecretRef.name, "certSecretRef");
      tls = { ca: c["ca.crt"] ?? c.caFile, cert: c["tls.crt"], key: c["tls.key"] };
      if (!tls.ca && !tls.cert) throw new Error(`secret '${ns}/${p.spec.certSecretRef.name}' (certSecretRef) has neither 'ca.crt' nor 'tls.crt'`);
    }
    let proxy: ProxySettings | undefined;
    if (p.spec.proxySecretRef) {
      const s = await this.secret(ns, p.spec.proxySecretRef.name, "proxySecretRef");
      if (!s.address) throw new Error(`secret '${ns}/${p.spec.proxySecretRef.name}' (proxySecretRef) has no 'address'`);
      proxy = { url: s.address, username: s.username, password: s.password };
    } else if (p.spec.proxy) proxy = { url: p.spec.proxy };
    return {
      type: p.spec.type,
      address,
      channel: p.spec.channel,
      username: secret.username ?? p.spec.username,
      token: secret.token,
      password: secret.password,
      headers,
      uidPrefix: (p.metadata.uid ?? "").split("-")[0] ?? "",
      request: { timeoutMs: p.spec.timeout ? parseDuration(p.spec.timeout) : defaultProviderTimeoutMs, tls, proxy, signal: this.stop.signal },
    };
  }

  private async secret(namespace: string, name: string, field: string): Promise<Record<string, string>> {
    try {
      const s = await this.o.client.get<{ data?: Record<string, string> }>(SecretsRef, namespace, name, { timeoutMs: 10_000 });
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    } catch (err) {
      if (isNotFound(err)) throw new Error(`secret '${namespace}/${name}' (${field}) not found`);
      throw new Error(`could not read secret '${namespace}/${name}' (${field}): ${errorMessage(err)}`);
    }
  }

  /** Reads the event object's labels once, when an Alert selects by labels. */
  private async labelLookup(event: FluxEvent, alerts: Alert[]): Promise<LabelLookup> {
    const o = event.involvedObject;
    const needed = alerts.some((a) => a.spec.eventSources?.some((s) => s.name === "*" && s.matchLabels && Object.keys(s.matchLabels).length && s.kind === o.kind));
    const ref = sourceKindRefs[o.kind];
    if (!needed || !ref) return () => undefined;
    try {
      const obj = await this.o.client.get<{ metadata: { labels?: Record<string, string> } }>(ref, o.namespace, o.name, { timeoutMs: 10_000 });
      const labels = obj.metadata.labels ?? {};
      return () => labels;
    } catch (err) {
      if (!isNotFound(err)) this.o.log.warn({ kind: o.kind, name: o.name, namespace: o.namespace, err: errorMessage(err) }, "could not read the event's object for matchLabels");
      return () => undefined;
    }
  }
}

/** The commit-status id of a Provider's commitStatusExpr, with the event as providers see it (metadata without the group prefix). */
function commitStatusOf(job: Job, expr: string): string {
  const n = job.notification;
  try {
    return commitStatusFromExpr(expr, { event: { ...n.event, metadata: n.metadata }, alert: job.alertObject, provider: job.provider });
  } catch (err) {
    throw new Error(`invalid commitStatusExpr: ${errorMessage(err)}`);
  }
}

/** Removes the provider's secrets from a message, should a library have put them there. */
function redact(message: string, c: ProviderConfig): string {
  let out = message;
  for (const secret of [c.address, c.token, c.password, ...Object.values(c.headers)]) if (secret && secret.length >= 4) out = out.split(secret).join("<redacted>");
  return out;
}
