// Leader election on a coordination.k8s.io/v1 Lease (client-go's protocol: acquire when the lease is free
// or expired, renew every retry period, give up after the renew deadline, release on shutdown).
import * as os from "node:os";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { ApiError, isConflict, isNotFound, type KubeClient, type ResourceRef } from "./kube";
import { sleep } from "../api/wait";

export const LeaseRef: ResourceRef = { kind: "Lease", group: "coordination.k8s.io", version: "v1", plural: "leases", namespaced: true };

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

const microTime = (d: Date): string => d.toISOString().replace("Z", "000Z");

export class LeaderElector {
  readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leader = false;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    this.identity = opts.identity ?? `${os.hostname()}_${randomUUID()}`;
    this.leaseDurationMs = opts.leaseDurationMs ?? 35_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 30_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 5_000;
  }

  isLeader(): boolean {
    return this.leader;
  }

  /** Resolves once this instance holds the lease (or the signal aborts). */
  async acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      try {
        if (await this.tryAcquireOrRenew(signal)) {
          this.leader = true;
          this.log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.identity }, "acquired leader lease");
          return true;
        }
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "leader election attempt failed");
      }
      await sleep(this.retryPeriodMs, signal);
    }
    return false;
  }

  /** Renews until the signal aborts (then releases) or renewal fails past the deadline (then calls onLost). */
  async hold(signal: AbortSignal, onLost: () => void): Promise<void> {
    let lastRenew = Date.now();
    while (!signal.aborted) {
      await sleep(this.retryPeriodMs, signal);
      if (signal.aborted) break;
      try {
        if (await this.tryAcquireOrRenew(signal)) {
          lastRenew = Date.now();
          continue;
        }
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "lease renewal failed");
      }
      if (Date.now() - lastRenew > this.renewDeadlineMs) {
        this.leader = false;
        this.log.error({ lease: this.opts.name }, "leader lease lost");
        onLost();
        return;
      }
    }
    await this.release();
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = new Date();
    let lease: Lease | undefined;
    try {
      lease = await this.client.get<Lease>(LeaseRef, this.opts.namespace, this.opts.name, { signal, timeoutMs: 10_000 });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.leaseDurationMs / 1000)),
      renewTime: microTime(now),
    };
    if (!lease) {
      await this.client.create(LeaseRef, this.opts.namespace, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
      }, { signal, timeoutMs: 10_000 });
      return true;
    }
    const holder = lease.spec.holderIdentity;
    const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
    const duration = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder && holder !== this.identity && renewed + duration > now.getTime()) return false;
    const takeover = holder !== this.identity;
    try {
      await this.client.replace(LeaseRef, this.opts.namespace, this.opts.name, {
        ...lease,
        spec: {
          ...lease.spec,
          ...spec,
          ...(takeover ? { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 } : {}),
        },
      }, { signal, timeoutMs: 10_000 });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    return true;
  }

  private async release(): Promise<void> {
    if (!this.leader) return;
    this.leader = false;
    try {
      const lease = await this.client.get<Lease>(LeaseRef, this.opts.namespace, this.opts.name, { timeoutMs: 5_000 });
      if (lease.spec.holderIdentity !== this.identity) return;
      await this.client.replace(LeaseRef, this.opts.namespace, this.opts.name, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 },
      }, { timeoutMs: 5_000 });
      this.log.info({ lease: this.opts.name }, "released leader lease");
    } catch (err) {
      this.log.warn({ err: err instanceof ApiError ? err.message : String(err) }, "could not release leader lease");
    }
  }
}
