// Writes that every reconciler needs: status through the status subresource, and finalizers, each with
// optimistic concurrency (resourceVersion) and a retry on conflict against a fresh read.
import { isConflict, isNotFound, type KubeClient, type KubeObject, type ResourceRef } from "./kube";

const conflictRetries = 5;

/**
 * Replaces .status on the status subresource. On a conflict the object is read again and the same status is
 * written over the fresh copy (status is owned by this controller alone). Returns the stored object, or
 * undefined when the object is gone.
 */
export function updateStatus<T extends KubeObject & { status?: unknown }>(
  client: KubeClient,
  ref: ResourceRef,
  obj: T,
  signal?: AbortSignal,
): Promise<T | undefined> {
  return writeWithConflictRetry(client, ref, obj, signal, (current) =>
    client.request<T>("PUT", statusPath(ref, current), { body: { ...current, status: obj.status }, signal }),
  );
}

/**
 * Runs write(current); on a conflict reads the object again and retries (bounded). Resolves undefined when
 * the object is gone, or with what write returned.
 */
async function writeWithConflictRetry<T extends KubeObject>(
  client: KubeClient,
  ref: ResourceRef,
  obj: T,
  signal: AbortSignal | undefined,
  write: (current: T) => Promise<T> | T,
): Promise<T | undefined> {
  let current: T = obj;
  for (let attempt = 0; ; attempt++) {
    try {
      return await write(current);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (!isConflict(err) || attempt >= conflictRetries) throw err;
      try {
        current = await client.get<T>(ref, obj.metadata.namespace, obj.metadata.name, { signal });
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    }
  }
}

function statusPath(ref: ResourceRef, obj: KubeObject): string {
  const base = ref.group === "" ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const ns = ref.namespaced ? `/namespaces/${encodeURIComponent(obj.metadata.namespace ?? "")}` : "";
  return `${base}${ns}/${ref.plural}/${encodeURIComponent(obj.metadata.name)}/status`;
}

export const hasFinalizer = (obj: KubeObject, finalizer: string): boolean => (obj.metadata.finalizers ?? []).includes(finalizer);

/** Adds the finalizer (no-op when present); returns the updated object. */
export function addFinalizer<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T, finalizer: string, signal?: AbortSignal): Promise<T | undefined> {
  return editFinalizers(client, ref, obj, signal, (f) => (f.includes(finalizer) ? undefined : [...f, finalizer]));
}

/** Removes the finalizer (no-op when absent); returns the updated object, undefined if it is gone. */
export function removeFinalizer<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T, finalizer: string, signal?: AbortSignal): Promise<T | undefined> {
  return editFinalizers(client, ref, obj, signal, (f) => (f.includes(finalizer) ? f.filter((x) => x !== finalizer) : undefined));
}

function editFinalizers<T extends KubeObject>(
  client: KubeClient,
  ref: ResourceRef,
  obj: T,
  signal: AbortSignal | undefined,
  edit: (finalizers: string[]) => string[] | undefined,
): Promise<T | undefined> {
  return writeWithConflictRetry(client, ref, obj, signal, (current) => {
    const next = edit(current.metadata.finalizers ?? []);
    if (!next) return current;
    return client.patch<T>(ref, current.metadata.namespace, current.metadata.name, {
      metadata: { finalizers: next, resourceVersion: current.metadata.resourceVersion },
    }, { signal });
  });
}
