// Incoming Flux events: parsing and checking the JSON a controller POSTs, the metadata the providers see (keys
// of the involved object's API group, the group prefix removed, as Flux hands them on), and the key under
// which duplicates are rate-limited.
import { createHash } from "node:crypto";
import type { FluxEvent } from "../runtime/fluxevents";
import { MetaRevisionKey } from "../api/notification";

export class EventValidationError extends Error {}

const isString = (v: unknown): v is string => typeof v === "string";

/** Parses an event body; throws EventValidationError with what is wrong. */
export function parseEvent(body: Buffer | string): FluxEvent {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString());
  } catch {
    throw new EventValidationError("the body is not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new EventValidationError("the body is not a JSON object");
  const e = doc as Partial<FluxEvent>;
  const o = e.involvedObject as Partial<FluxEvent["involvedObject"]> | undefined;
  if (!o || typeof o !== "object") throw new EventValidationError("involvedObject is missing");
  for (const k of ["kind", "name", "namespace"] as const) if (!isString(o[k]) || o[k] === "") throw new EventValidationError(`involvedObject.${k} is missing`);
  if (e.severity !== "info" && e.severity !== "error" && e.severity !== "trace") throw new EventValidationError("severity must be info or error");
  for (const k of ["message", "reason", "reportingController"] as const) if (!isString(e[k])) throw new EventValidationError(`${k} is missing`);
  if (!isString(e.timestamp) || Number.isNaN(Date.parse(e.timestamp))) throw new EventValidationError("timestamp is missing or not RFC 3339");
  if (e.metadata !== undefined && (typeof e.metadata !== "object" || e.metadata === null || Object.values(e.metadata).some((v) => !isString(v)))) {
    throw new EventValidationError("metadata must map strings to strings");
  }
  return e as FluxEvent;
}

/** The API group of the involved object ("" for the core group or a missing apiVersion). */
export function eventGroup(e: FluxEvent): string {
  const av = e.involvedObject.apiVersion ?? "";
  return av.includes("/") ? av.slice(0, av.indexOf("/")) : "";
}

/** Checksum and digest keys are the controllers' own bookkeeping; providers never see them. */
const excludedKeys = new Set(["checksum", "digest"]);

/**
 * The metadata providers see: only keys of the involved object's group, without the "<group>/" prefix
 * (e.g. "kustomize.toolkit.fluxcd.io/revision" → "revision").
 */
export function providerMetadata(e: FluxEvent): Record<string, string> {
  const prefix = `${eventGroup(e)}/`;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.metadata ?? {})) {
    if (!k.startsWith(prefix)) continue;
    const key = k.slice(prefix.length);
    if (!excludedKeys.has(key)) out[key] = v;
  }
  return out;
}

/** Events with the same key within the rate-limit window are sent once: same object, message and revision. */
export function rateLimitKey(e: FluxEvent): string {
  const o = e.involvedObject;
  const revision = e.metadata?.[`${eventGroup(e)}/${MetaRevisionKey}`] ?? "";
  return createHash("sha256").update(JSON.stringify([o.kind, o.namespace, o.name, e.severity, e.reason, e.message, revision])).digest("hex");
}

/** Remembers keys for a window; `seen(key)` is true when the key was seen within it. */
export class DuplicateWindow {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  seen(key: string): boolean {
    const t = this.now();
    const prev = this.last.get(key);
    if (prev !== undefined && t - prev < this.windowMs) return true;
    this.last.set(key, t);
    if (this.last.size > 50_000) for (const [k, at] of this.last) if (t - at >= this.windowMs) this.last.delete(k);
    return false;
  }
}
