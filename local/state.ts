// DIR/state.json: what `up` started (pids, binaries, ports), so `down` and `status` act on exactly that.
export const componentNames = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"] as const;
export type ComponentName = (typeof componentNames)[number];

export interface ComponentState {
  name: ComponentName;
  /** Absolute path of the binary that runs as pid (checked against /proc/<pid>/cmdline before signalling). */
  binary: string;
  pid: number;
  /** Ports the component listens on, by role (e.g. client, peer, secure). */
  ports: Record<string, number>;
  log: string;
  startedAt: string;
}

export interface ControlPlaneState {
  version: 1;
  apiserverUrl: string;
  /** Number of kwok-managed fake Nodes. */
  nodes: number;
  /** Components in start order (stopped in reverse). */
  components: ComponentState[];
}

export class StateError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason} (remove the directory, or run \`mooring local down --dir\` on it, to start afresh)`);
    this.name = "StateError";
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

/** Parse and validate a state file's text; throws StateError naming the first problem. */
export function parseState(text: string, file: string): ControlPlaneState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StateError(file, `not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(raw)) throw new StateError(file, "not a JSON object");
  if (raw.version !== 1) throw new StateError(file, `unsupported version ${JSON.stringify(raw.version)}`);
  if (typeof raw.apiserverUrl !== "string" || !/^https:\/\/127\.0\.0\.1:\d+$/.test(raw.apiserverUrl)) {
    throw new StateError(file, `apiserverUrl ${JSON.stringify(raw.apiserverUrl)} is not https://127.0.0.1:<port>`);
  }
  if (typeof raw.nodes !== "number" || !Number.isInteger(raw.nodes) || raw.nodes < 0) throw new StateError(file, "nodes is not a count");
  if (!Array.isArray(raw.components)) throw new StateError(file, "components is not a list");
  const seen = new Set<string>();
  const components = raw.components.map((c, i): ComponentState => {
    const where = `components[${i}]`;
    if (!isRecord(c)) throw new StateError(file, `${where} is not an object`);
    if (!componentNames.includes(c.name as ComponentName)) throw new StateError(file, `${where}.name ${JSON.stringify(c.name)} is not a component`);
    if (seen.has(c.name as string)) throw new StateError(file, `${where}: ${String(c.name)} appears twice`);
    seen.add(c.name as string);
    if (typeof c.binary !== "string" || !c.binary.startsWith("/")) throw new StateError(file, `${where}.binary is not an absolute path`);
    if (!positiveInt(c.pid)) throw new StateError(file, `${where}.pid is not a process id`);
    if (!isRecord(c.ports) || !Object.values(c.ports).every((p) => positiveInt(p) && p < 65536)) {
      throw new StateError(file, `${where}.ports is not a map of port numbers`);
    }
    if (typeof c.log !== "string") throw new StateError(file, `${where}.log is not a path`);
    return {
      name: c.name as ComponentName,
      binary: c.binary,
      pid: c.pid,
      ports: c.ports as Record<string, number>,
      log: c.log,
      startedAt: typeof c.startedAt === "string" ? c.startedAt : "",
    };
  });
  return { version: 1, apiserverUrl: raw.apiserverUrl, nodes: raw.nodes, components };
}

export function renderState(state: ControlPlaneState): string {
  return JSON.stringify(state, null, 2) + "\n";
}
