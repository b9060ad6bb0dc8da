// Structured logs (pino) in the shape Flux's controllers write, so `flux logs` and log pipelines built
// for Flux read them: one JSON object per line with a string `level`, `ts` (ISO 8601 / RFC 3339 UTC),
// `msg`, `error` as a string, and for a reconcile the object's `name`, `namespace`, `controller`,
// `controllerGroup`, `controllerKind` and `"<Kind>": {name, namespace}`.
// `flux logs --kind/--name/--namespace/--level` filter on controllerKind, name, namespace and level.
import pino, { type Logger } from "pino";

export type { Logger };

/** Flux's log levels (`--log-level`). */
export type LogLevel = "trace" | "debug" | "info" | "error";
/** `--log-encoding`: Flux's JSON lines, or console lines for people. */
export type LogEncoding = "json" | "console";

/**
 * The level words written: Flux's controllers (logr over zap) know only debug, info and error, and
 * `flux logs --level` accepts only those. pino's warn becomes info and fatal becomes error so every line
 * can be selected; trace lines say trace.
 */
const levelWords: Record<string, string> = { trace: "trace", debug: "debug", info: "info", warn: "info", error: "error", fatal: "error" };

/** Kinds by the name their controller logs under (the lowercased kind, as controller-runtime names them). */
const toolkitKinds: Record<string, { kind: string; group: string }> = {
  gitrepository: { kind: "GitRepository", group: "source.toolkit.fluxcd.io" },
  ocirepository: { kind: "OCIRepository", group: "source.toolkit.fluxcd.io" },
  helmrepository: { kind: "HelmRepository", group: "source.toolkit.fluxcd.io" },
  helmchart: { kind: "HelmChart", group: "source.toolkit.fluxcd.io" },
  bucket: { kind: "Bucket", group: "source.toolkit.fluxcd.io" },
  kustomization: { kind: "Kustomization", group: "kustomize.toolkit.fluxcd.io" },
  helmrelease: { kind: "HelmRelease", group: "helm.toolkit.fluxcd.io" },
};

type Fields = Record<string, unknown>;

/** Errors become one string under `error` (Flux's key; `flux logs` prints it, and reads it as a string). */
function errorField(fields: Fields): Fields {
  if (!("err" in fields) && !(fields.error !== undefined && typeof fields.error !== "string")) return fields;
  const { err, error, ...rest } = fields;
  const value = err ?? error;
  if (value === undefined) return rest;
  return { ...rest, error: value instanceof Error ? value.message : typeof value === "string" ? value : JSON.stringify(value) };
}

/**
 * Adds Flux's object fields to a reconcile's bindings: given `controller` (e.g. "kustomization") with the
 * object's `name` and `namespace`, the kind and group follow, and `"Kustomization": {name, namespace}`.
 */
export function objectFields(fields: Fields): Fields {
  const known = typeof fields.controller === "string" ? toolkitKinds[fields.controller] : undefined;
  const kind = typeof fields.controllerKind === "string" ? fields.controllerKind : known?.kind;
  if (!kind || typeof fields.name !== "string") return fields;
  const ref = fields.namespace === undefined ? { name: fields.name } : { name: fields.name, namespace: fields.namespace };
  return { controllerGroup: known?.group, controllerKind: kind, [kind]: ref, ...fields };
}

// pino serialises a child's bindings once, without formatters; the object fields they imply are
// computed once per child logger and added to each of its lines.
const impliedByLogger = new WeakMap<Logger, Fields>();

function impliedFields(logger: Logger): Fields {
  let implied = impliedByLogger.get(logger);
  if (implied === undefined) {
    const bindings = logger.bindings() as Fields;
    const withObject = objectFields(bindings);
    implied = Object.fromEntries(Object.entries(withObject).filter(([k]) => !(k in bindings)));
    impliedByLogger.set(logger, implied);
  }
  return implied;
}

/** pino options that write Flux's JSON shape. */
export function fluxLogOptions(level: string): pino.LoggerOptions {
  return {
    level,
    base: undefined,
    messageKey: "msg",
    errorKey: "error",
    timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    // pino merges each line into the object a mixin returns: hand it a fresh copy.
    mixin: (_fields, _level, logger) => ({ ...impliedFields(logger as Logger) }),
    formatters: {
      level: (label) => ({ level: levelWords[label] ?? label }),
      log: (fields) => errorField(fields),
    },
  };
}

/** Fields a console line leaves out of its trailing JSON (they are shown in front, or repeat the kind). */
const consoleHead = new Set(["level", "ts", "msg", "controllerKind", "controllerGroup", "name", "namespace", "error"]);

/** One Flux JSON line as a console line: `ts LEVEL Kind/name.namespace msg {fields} error`. */
export function consoleLine(json: string): string {
  let entry: Fields;
  try {
    entry = JSON.parse(json) as Fields;
  } catch {
    return json;
  }
  const kind = typeof entry.controllerKind === "string" ? entry.controllerKind : undefined;
  const subject = kind && entry.name ? `${kind}/${String(entry.name)}${entry.namespace ? `.${String(entry.namespace)}` : ""} ` : "";
  const rest = Object.fromEntries(Object.entries(entry).filter(([k]) => !consoleHead.has(k) && k !== kind));
  const extra = Object.keys(rest).length ? `\t${JSON.stringify(rest)}` : "";
  const error = entry.error ? `\terror: ${String(entry.error)}` : "";
  return `${String(entry.ts)}\t${String(entry.level).toUpperCase()}\t${subject}${String(entry.msg ?? "")}${extra}${error}\n`;
}

/** A destination that rewrites each JSON line as a console line before writing it. */
function consoleDestination(out: pino.DestinationStream): pino.DestinationStream {
  return {
    write(chunk: string) {
      out.write(
        chunk
          .split("\n")
          .filter(Boolean)
          .map((line) => consoleLine(line))
          .join(""),
      );
    },
  };
}

/**
 * A logger at `level` ("trace" … "error", or pino's "warn"/"silent") writing to `destination` (default
 * stdout, synchronously) in `encoding` (default json).
 */
export function newLogger(level = "info", destination?: pino.DestinationStream, encoding: LogEncoding = "json"): Logger {
  const out = destination ?? pino.destination(1);
  return pino(fluxLogOptions(level), encoding === "console" ? consoleDestination(out) : out);
}
