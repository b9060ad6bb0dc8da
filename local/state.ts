// DIR/state.json: what `up` started (pids, binaries, ports), so `down` and `status` act on exactly that.
export const componentNames = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "containerd", "kubelet", "kube-proxy"] as const;
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
  /** Network namespace the component runs in (the real node's), when not the host's. */
  netns?: string;
}

/** The real node: its network slot (addresses, namespace and cgroups follow from it, see network.ts). */
export interface RealNodeState {
  slot: number;
}

export interface ControlPlaneState {
  version: 1;
  apiserverUrl: string;
  /** Number of kwok-managed fake Nodes. */
  nodes: number;
  /** Components in start order (stopped in reverse). */
  components: ComponentState[];
  /** Present when the control plane has a real node. */
  realNode?: RealNodeState;
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
  if (typeof raw.apiserverUrl !== "string" || !/^https:\/\/(127\.0\.0\.1|10\.222\.\d{1,3}\.1):\d+$/.test(raw.apiserverUrl)) {
    throw new StateError(file, `apiserverUrl ${JSON.stringify(raw.apiserverUrl)} is not https://127.0.0.1:<port> or a node link's https://10.222.<slot>.1:<port>`);
  }
  let realNode: RealNodeState | undefined;
  if (raw.realNode !== undefined) {
    const slot = isRecord(raw.realNode) ? raw.realNode.slot : undefined;
    if (typeof slot !== "number" || !Number.isInteger(slot) || slot < 0 || slot > 249) throw new StateError(file, "realNode.slot is not a network slot (0-249)");
    realNode = { slot };
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
    if (c.netns !== undefined && (typeof c.netns !== "string" || !/^mooring-\d+$/.test(c.netns))) throw new StateError(file, `${where}.netns is not a node namespace`);
    return {
      name: c.name as ComponentName,
      binary: c.binary,
      pid: c.pid,
      ports: c.ports as Record<string, number>,
      log: c.log,
      startedAt: typeof c.startedAt === "string" ? c.startedAt : "",
      ...(typeof c.netns === "string" ? { netns: c.netns } : {}),
    };
  });
  return { version: 1, apiserverUrl: raw.apiserverUrl, nodes: raw.nodes, components, ...(realNode ? { realNode } : {}) };
}

export function renderState(state: ControlPlaneState): string {
  return JSON.stringify(state, null, 2) + "\n";
}
