// Wiring a controller, after controller-runtime's builder: the kind it reconciles, the kinds it owns, the other
// kinds and event sources it watches with a map function each, its error policy, then the reconciler.
//
//   mgr.controller(KustomizationKind, { name: "kustomization" })
//     .index("source", (ks) => [sourceKey(ks)])
//     .watches(GitRepositoryKind, (repo, old) => (newRevision(repo, old) ? [keyOf(repo)] : []), { via: "source" })
//     .errorPolicy({ reason: "ReconciliationFailed" })
//     .complete(reconciler);
//
// Map functions are pure: they see one event and return keys of the reconciled kind, or, with `via`, values
// of one of its indexes, which the builder resolves from the informer's index (never a scan of the cache).
import type { KubeObject, ResourceRef } from "./kube";
import type { Informer, InformerEvent, IndexFunc } from "./informer";
import { Controller, type ControllerDeps, type ControllerOptions, type ErrorPolicy, type Reconciler } from "./controller";
import type { ReconcilableObject } from "./session";

/** A kind as the API module defines it (KindDefinition.resource), or any object with its REST location. */
export interface KindRef {
  resource: ResourceRef;
}

/** Something besides an informer that reports events, e.g. the drift watcher. */
export interface EventSource<E> {
  subscribe(handler: (event: E) => void): void;
}

/** Maps one event of a watched kind to keys of the reconciled kind (or index values, with `via`). */
export type MapFunc<S> = (obj: S, old: S | undefined, event: InformerEvent) => Iterable<string>;

export interface WatchOptions {
  /** The map function returns values of this index of the reconciled kind, not keys. */
  via?: string;
}

/** The pieces of the Manager a builder needs. */
export interface ControllerHost {
  informer<S extends KubeObject>(ref: ResourceRef): Informer<S>;
  /** Called by complete(): the host runs the controller and applies its watch options to the informer. */
  register<T extends ReconcilableObject>(controller: Controller<T>, informer: Informer<T>): void;
  deps: ControllerDeps;
  /** Defaults the host applies to every controller (retry delays, jitter). */
  defaults: Partial<Pick<ControllerOptions<ReconcilableObject>, "backoff" | "jitterPercent">>;
}

/** Per-controller settings (the informer and reconciler come from the builder). */
export type ControllerSettings<T extends ReconcilableObject> = Omit<ControllerOptions<T>, "informer" | "reconciler" | "errorPolicy">;

type Wiring = (enqueue: (key: string) => void, primary: Informer<KubeObject>) => void;

export class ControllerBuilder<T extends ReconcilableObject> {
  private readonly wirings: Wiring[] = [];
  private policy?: ErrorPolicy<T>;
  private readonly informer: Informer<T>;
  private completed = false;

  constructor(
    private readonly host: ControllerHost,
    readonly kind: KindRef,
    private readonly settings: ControllerSettings<T>,
  ) {
    this.informer = host.informer<T>(kind.resource);
  }

  /** Adds an index on the reconciled kind, for `watches(…, { via })` and for lookups in the cache. */
  index(name: string, fn: IndexFunc<T>): this {
    this.assertOpen();
    this.informer.addIndex(name, fn);
    return this;
  }

  /** Reconciles the owner when an object of `kind` whose controller ownerReference names the reconciled kind changes. */
  owns(kind: KindRef): this {
    const owner = this.kind.resource;
    return this.watches<KubeObject>(kind, (obj) => ownerKeys(obj, owner));
  }

  /** Reconciles the objects the map function names when `source` (a kind or an event source) reports a change. */
  watches<S extends KubeObject>(source: KindRef, map: MapFunc<S>, o?: WatchOptions): this;
  watches<E>(source: EventSource<E>, map: (event: E) => Iterable<string>, o?: WatchOptions): this;
  watches<S extends KubeObject, E>(source: KindRef | EventSource<E>, map: MapFunc<S> | ((event: E) => Iterable<string>), o: WatchOptions = {}): this {
    this.assertOpen();
    const resolve = (enqueue: (key: string) => void, primary: Informer<KubeObject>, values: Iterable<string>) => {
      for (const value of values) {
        if (o.via === undefined) enqueue(value);
        else for (const key of primary.byIndex(o.via, value)) enqueue(key);
      }
    };
    if ("resource" in source) {
      const informer = this.host.informer<S>(source.resource);
      const mapKind = map as MapFunc<S>;
      this.wirings.push((enqueue, primary) => informer.on((event, obj, old) => resolve(enqueue, primary, mapKind(obj, old, event))));
    } else {
      const mapEvent = map as (event: E) => Iterable<string>;
      this.wirings.push((enqueue, primary) => source.subscribe((event) => resolve(enqueue, primary, mapEvent(event))));
    }
    return this;
  }

  /** How failures are reported and retried (default: reason "ReconciliationFailed", exponential backoff). */
  errorPolicy(policy: ErrorPolicy<T>): this {
    this.policy = policy;
    return this;
  }

  /** Creates the controller with this reconciler and hands it to the manager. */
  complete(reconciler: Reconciler<T>): Controller<T> {
    this.assertOpen();
    this.completed = true;
    const controller = new Controller<T>(
      { ...this.host.defaults, ...this.settings, informer: this.informer, reconciler, errorPolicy: this.policy },
      this.host.deps,
    );
    const enqueue = (key: string) => controller.enqueue(key);
    const primary = this.informer as unknown as Informer<KubeObject>;
    for (const wire of this.wirings) wire(enqueue, primary);
    this.host.register(controller, this.informer);
    return controller;
  }

  private assertOpen(): void {
    if (this.completed) throw new Error(`controller ${this.settings.name} is already complete`);
  }
}

/** Keys of the owners of obj of the given kind, from its controller ownerReference. */
export function ownerKeys(obj: KubeObject, owner: ResourceRef): string[] {
  const apiVersion = owner.group ? `${owner.group}/${owner.version}` : owner.version;
  return (obj.metadata.ownerReferences ?? [])
    .filter((r) => r.controller === true && r.kind === owner.kind && r.apiVersion === apiVersion)
    .map((r) => (owner.namespaced && obj.metadata.namespace ? `${obj.metadata.namespace}/${r.name}` : r.name));
}
