// What the reconcilers that store artifacts share: the storage (there once the artifact server runs), each
// object's directory in it, and the finalizer that removes the object's artifacts when it is deleted.
import type { Action, Reconciler } from "../runtime/controller";
import type { ReconcilableObject, Session } from "../runtime/session";
import type { Storage } from "./storage";

/** The storage, or an error when the artifact server has not started it yet. */
export function requireStorage(storage: Storage | undefined): Storage {
  if (!storage) throw new Error("artifact storage is not started");
  return storage;
}

export abstract class ArtifactReconciler<T extends ReconcilableObject> implements Reconciler<T> {
  protected constructor(
    private readonly storageOf: () => Storage | undefined,
    /** The kind, as storage directories name it ("GitRepository" → gitrepository/<ns>/<name>). */
    private readonly kind: string,
  ) {}

  reconcile(s: Session<T>): Promise<Action | void> {
    return s.withFinalizer(
      () => this.produce(s),
      async () => {
        await this.storage.removeDir(this.objectDir(s.obj));
        s.log.info("artifacts removed, finalizer released");
      },
    );
  }

  /** Builds and stores the object's artifact; what to do next. */
  protected abstract produce(s: Session<T>): Promise<Action>;

  protected get storage(): Storage {
    return requireStorage(this.storageOf());
  }

  protected objectDir(obj: T): string {
    return this.storage.objectDir(this.kind, obj.metadata.namespace!, obj.metadata.name);
  }
}
