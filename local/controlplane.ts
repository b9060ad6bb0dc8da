// A real local Kubernetes cluster in a directory: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// a real node where the machine can run containers (containerd, kubelet, kube-proxy and CoreDNS in a network
// namespace of its own, see network.ts) and, for scale, kwok playing the kubelets of fake Nodes. Processes run
// detached; DIR/state.json records them so a later `down` or `status` (from any process) acts on exactly what
// `up` started.
import * as https from "node:https";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { toolPath } from "./tools";
import { ensurePki, type CertPair, type Pki } from "./pki";
import { addressInUse, preferPort, releasePorts } from "./ports";
import { processArgv, runsBinary, spawnDetached, startMarker, stopProcess, tailFile, type Spawned } from "./processes";
import { parseState, renderState, StateError, type ComponentName, type ComponentState, type ControlPlaneState } from "./state";
import * as flags from "./flags";
import { extrasFile, stopExtras } from "./extras";
import { renderKubeconfig } from "./kubeconfig";
import { deploymentReady, ensureNode, ensureObject, exists, mergePatch, nodeReady, readyz, type AdminCredentials } from "./adminclient";
import { claimNetwork, networkOf, networkPresent, preferredSlot, releaseNetwork, type NodeNetwork } from "./network";
import { corednsObjects, kubeletArgs, kubeProxyArgs, maxSocketPath, nodeLayout, realNodeName, realNodeTaint } from "./nodeconfig";
import { prepareNode, teardownNode, waitContainerd } from "./node";
import { corednsImageArchive, importImage, pauseImageArchive } from "./nodeimages";
import { checkNodePrerequisites } from "./prereqs";
import { provideMooringImages } from "./clusterimages";

export type Log = (line: string) => void;

export interface UpOptions {
  /** Directory holding the control plane's data, PKI, logs, kubeconfig and state. Created when missing. */
  dir: string;
  /** Fake Nodes (kwok) to run, with kube-scheduler. Default: 0 for a new DIR; a running DIR keeps its count. */
  nodes?: number;
  /** Progress lines. */
  log?: Log;
  /** How long to wait for the whole control plane to become ready. Default 120 s. */
  timeoutMs?: number;
  /**
   * Run a real node (containerd, kubelet, kube-proxy, CoreDNS). Default: yes where the machine can run
   * containers (else kwok only, with the reason logged); a running DIR keeps what it has. true fails with
   * the reasons when the machine cannot; false runs no real node.
   */
  realNode?: boolean;
  /** More OCI image archives to import into the real node at up. */
  images?: string[];
  /**
   * Make Mooring's controllers image (under the reference the install renders by default) and the demo app
   * image available to the real node: built offline from this checkout when an input changed, imported when
   * the node lacks that manifest. Default true; ignored without a real node.
   */
  mooringImages?: boolean;
  /** Serve the apiserver's /debug/pprof, for benchmarks that profile it. Default false. */
  profiling?: boolean;
}

/** The real node of a control plane. */
export interface RealNode {
  name: string;
  /** The node's InternalIP, inside its own network namespace. */
  nodeIp: string;
  netns: string;
  podCidr: string;
  serviceCidr: string;
  /** ClusterIP of kube-dns. */
  dnsIp: string;
  /** containerd's socket (for `ctr --address`). */
  containerdSocket: string;
}

export interface ControlPlane {
  dir: string;
  /** Admin kubeconfig (client certificate in group system:masters). */
  kubeconfigPath: string;
  apiserverUrl: string;
  /** True when a healthy control plane already ran in DIR and was returned as is. */
  reused: boolean;
  /** kwok nodes. */
  nodes: number;
  /** Every Node `up` made: the real node first, then the kwok nodes. */
  nodeNames: string[];
  components: ComponentState[];
  /**
   * An address of this machine that pods reach (the host end of the node's link): local services for pods
   * (a git host, an artifact server) bind here. Undefined without a real node.
   */
  nodeAddress?: string;
  realNode?: RealNode;
}

/** The real node cannot run on this machine; reasons say why, each actionable. */
export class NodeUnavailableError extends Error {
  constructor(readonly reasons: string[]) {
    super(`this machine cannot run the real node:\n  ${reasons.join("\n  ")}\n(use kwok nodes only with --real-node=false)`);
    this.name = "NodeUnavailableError";
  }
}

/** A component failed to start (or a port stayed taken); the message names it and quotes its log. */
export class ControlPlaneError extends Error {
  constructor(
    message: string,
    readonly component?: ComponentName,
    readonly logTail?: string,
  ) {
    super(logTail ? `${message}\n--- last lines of its log ---\n${logTail}` : message);
    this.name = "ControlPlaneError";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pollMs = 50;

function statePath(dir: string): string {
  return path.join(dir, "state.json");
}

async function readState(dir: string): Promise<ControlPlaneState | undefined> {
  const file = statePath(dir);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return parseState(text, file);
}

async function writeState(dir: string, state: ControlPlaneState): Promise<void> {
  const tmp = `${statePath(dir)}.${process.pid}.tmp`;
  await fs.writeFile(tmp, renderState(state));
  await fs.rename(tmp, statePath(dir));
}

async function adminCredentials(pki: Pick<Pki, "ca" | "admin">, server: string): Promise<AdminCredentials> {
  const [ca, cert, key] = await Promise.all([pki.ca.cert, pki.admin.cert, pki.admin.key].map((f) => fs.readFile(f, "utf8")));
  return { server, ca: ca!, cert: cert!, key: key! };
}

function pkiPaths(dir: string): Pick<Pki, "ca" | "admin"> {
  const p = (n: string): CertPair => ({ cert: path.join(dir, "pki", `${n}.crt`), key: path.join(dir, "pki", `${n}.key`) });
  return { ca: p("ca"), admin: p("admin") };
}

/** Why a recorded control plane is not healthy, or [] when it is. */
async function problems(dir: string, state: ControlPlaneState): Promise<string[]> {
  const found: string[] = [];
  for (const c of state.components) {
    if (!(await runsBinary(c.pid, c.binary))) found.push(`${c.name} (pid ${c.pid}) is not running`);
  }
  if (found.length) return found;
  if (state.realNode && !(await networkPresent(networkOf(state.realNode.slot)))) return [`the node's network (${networkOf(state.realNode.slot).netns}) is gone`];
  try {
    const r = await readyz(await adminCredentials(pkiPaths(dir), state.apiserverUrl));
    if (!r.ok) found.push(`kube-apiserver /readyz: ${r.detail}`);
  } catch (err) {
    found.push(`cannot check /readyz: ${(err as Error).message}`);
  }
  return found;
}

function childEnv(): NodeJS.ProcessEnv {
  // etcd reads ETCD_* variables as flags; a stray one in the caller's environment must not reconfigure it.
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")));
}

async function writeKubeconfigs(l: flags.Layout, server: string): Promise<void> {
  const caPem = await fs.readFile(l.pki.ca.cert, "utf8");
  await fs.mkdir(path.dirname(l.kubeconfigs.kwok), { recursive: true });
  const write = async (file: string, name: string, pair: CertPair) => {
    const [clientCertificate, clientKey] = await Promise.all([fs.readFile(pair.cert, "utf8"), fs.readFile(pair.key, "utf8")]);
    await fs.writeFile(file, renderKubeconfig({ name, server, caPem, user: { clientCertificate, clientKey } }), { mode: 0o600 });
  };
  await Promise.all([
    write(l.adminKubeconfig, "mooring-local", l.pki.admin),
    write(l.kubeconfigs.controllerManager, "kube-controller-manager", l.pki.controllerManager),
    write(l.kubeconfigs.scheduler, "kube-scheduler", l.pki.scheduler),
    write(l.kubeconfigs.kwok, "kwok", l.pki.kwok),
    write(l.kubeconfigs.kubelet, "kubelet", l.pki.kubelet),
    write(l.kubeconfigs.kubeProxy, "kube-proxy", l.pki.kubeProxy),
  ]);
}

/** GET https://127.0.0.1:port/healthz of a component with a self-signed serving certificate. */
function componentHealthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host: "127.0.0.1", port, path: "/healthz", rejectUnauthorized: false, agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

interface Running {
  state: ComponentState;
  spawned: Spawned;
}

class PortTaken extends Error {}

/** Throw when a component we started has exited: a taken port is retried, anything else is reported. */
async function checkAlive(running: Running[]): Promise<void> {
  for (const r of running) {
    if (!r.spawned.exit && (await runsBinary(r.state.pid, r.state.binary))) continue;
    // The exit event follows the process's end by a moment; wait for it to report the exit status.
    for (let i = 0; i < 10 && !r.spawned.exit; i++) await sleep(20);
    const tail = await tailFile(r.state.log, 20);
    if (addressInUse.test(tail)) throw new PortTaken(`${r.state.name}: ${tail.split("\n").find((l) => addressInUse.test(l)) ?? "address in use"}`);
    const how = r.spawned.exit ? (r.spawned.exit.signal ? `killed by ${r.spawned.exit.signal}` : `exit code ${r.spawned.exit.code}`) : "gone";
    throw new ControlPlaneError(`${r.state.name} died during start-up (${how}); its log: ${r.state.log}`, r.state.name, tail);
  }
}

interface Binaries {
  etcd: string;
  apiserver: string;
  controllerManager: string;
  scheduler?: string;
  kwok?: string;
  kubelet?: string;
  kubeProxy?: string;
}

const containerdBinary = "/usr/bin/containerd";
const nodeComponents: ComponentName[] = ["containerd", "kubelet", "kube-proxy"];

async function resolveBinaries(nodes: number, realNode: boolean): Promise<Binaries> {
  const [etcd, apiserver, controllerManager] = await Promise.all([toolPath("etcd"), toolPath("kube-apiserver"), toolPath("kube-controller-manager")]);
  const b: Binaries = { etcd: etcd!, apiserver: apiserver!, controllerManager: controllerManager! };
  if (nodes > 0 || realNode) b.scheduler = await toolPath("kube-scheduler");
  if (nodes > 0) b.kwok = await toolPath("kwok");
  if (realNode) {
    b.kubelet = await toolPath("kubelet");
    b.kubeProxy = await toolPath("kube-proxy");
    await toolPath("coredns");
  }
  return b;
}

async function waitUntil(what: string, deadline: number, running: Running[], check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    await checkAlive(running);
    if (await check()) return;
    if (Date.now() > deadline) throw new ControlPlaneError(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** One start attempt with the given ports; on failure every process it started is stopped. */
async function startOnce(
  l: flags.Layout,
  bins: Binaries,
  ports: flags.Ports,
  nodes: number,
  images: string[],
  deadline: number,
  log: Log,
): Promise<ControlPlaneState> {
  const n = l.network;
  const apiserverUrl = `https://${flags.apiserverAddress(l)}:${ports.apiserver}`;
  const state: ControlPlaneState = { version: 1, apiserverUrl, nodes, components: [], ...(n ? { realNode: { slot: n.slot } } : {}) };
  const running: Running[] = [];
  const env = childEnv();
  const start = async (name: ComponentName, binary: string, args: string[], componentPorts: Record<string, number>, netns?: string) => {
    const logFile = path.join(l.logs, `${name}.log`);
    await fs.appendFile(logFile, startMarker(binary, args));
    // In the node's namespace through nsenter, which execs the binary: the pid stays the component's.
    const spawned = netns ? spawnDetached("nsenter", [`--net=/run/netns/${netns}`, "--", binary, ...args], logFile, env) : spawnDetached(binary, args, logFile, env);
    const cs: ComponentState = { name, binary, pid: spawned.pid, ports: componentPorts, log: logFile, startedAt: new Date().toISOString(), ...(netns ? { netns } : {}) };
    if (netns) for (let i = 0; i < 100 && !spawned.exit && !(await runsBinary(spawned.pid, binary)); i++) await sleep(10);
    running.push({ state: cs, spawned });
    state.components.push(cs);
    await writeState(l.dir, state);
    log(`started ${name} (pid ${spawned.pid})`);
  };
  const nl = nodeLayout(l.dir);
  try {
    await writeKubeconfigs(l, apiserverUrl);
    await start("etcd", bins.etcd, flags.etcdArgs(l, ports), { client: ports.etcdClient, peer: ports.etcdPeer });
    // The apiserver retries its etcd connection itself: no need to wait for etcd first.
    await start("kube-apiserver", bins.apiserver, flags.apiserverArgs(l, ports), { secure: ports.apiserver });
    if (n) {
      // containerd needs nothing from the apiserver: it and the images come up meanwhile.
      await prepareNode(nl, n, l.pki.ca.cert, l.kubeconfigs.kubeProxy);
      await start("containerd", containerdBinary, ["--config", nl.containerdConfig], {}, n.netns);
    }
    const creds = await adminCredentials(l.pki, apiserverUrl);
    if (n) {
      await waitContainerd(nl, deadline, () => checkAlive(running));
      const archives = await Promise.all([pauseImageArchive(), corednsImageArchive()]);
      for (const archive of [...archives, ...images]) await importImage(l.dir, archive);
      log(`imported ${archives.length + images.length} image(s) into the node`);
    }
    // The controller-manager gives up when the apiserver is not healthy within seconds of its start,
    // so it (and its peers) start once the apiserver serves at all.
    await waitUntil("kube-apiserver to serve", deadline, running, async () => !/ECONNREFUSED|ECONNRESET|socket hang up/.test((await readyz(creds)).detail));
    await start("kube-controller-manager", bins.controllerManager, flags.controllerManagerArgs(l, ports), { secure: ports.controllerManager });
    if (bins.scheduler) await start("kube-scheduler", bins.scheduler, flags.schedulerArgs(l, ports), { secure: ports.scheduler });
    if (nodes > 0) await start("kwok", bins.kwok!, flags.kwokArgs(l), {});
    if (n) {
      await start("kubelet", bins.kubelet!, kubeletArgs(nl, n, l.kubeconfigs.kubelet), {}, n.netns);
      await start("kube-proxy", bins.kubeProxy!, kubeProxyArgs(nl), {}, n.netns);
    }
    await waitUntil("kube-apiserver /readyz", deadline, running, async () => (await readyz(creds)).ok);
    log("kube-apiserver ready");
    const nodeNames = Array.from({ length: nodes }, (_, i) => flags.nodeName(i));
    for (const name of nodeNames) await ensureNode(creds, flags.nodeManifest(name));
    await waitUntil("kube-controller-manager /healthz", deadline, running, () => componentHealthy(ports.controllerManager));
    if (bins.scheduler) await waitUntil("kube-scheduler /healthz", deadline, running, () => componentHealthy(ports.scheduler));
    if (nodes > 0) {
      await waitUntil(`${nodes} kwok Node(s) Ready`, deadline, running, async () => (await Promise.all(nodeNames.map((name) => nodeReady(creds, name)))).every(Boolean));
      log(`${nodes} kwok node(s) ready`);
    }
    if (n) {
      await waitUntil(`Node ${realNodeName} Ready`, deadline, running, () => nodeReady(creds, realNodeName));
      log(`node ${realNodeName} ready (${n.nodeIp}, pods ${n.podCidr}, Services ${n.serviceCidr})`);
      await mergePatch(creds, `/api/v1/nodes/${realNodeName}`, { spec: { taints: nodes > 0 ? [realNodeTaint] : null } });
      for (const obj of corednsObjects(n)) await ensureObject(creds, obj);
      await waitUntil("CoreDNS Ready", deadline, running, () => deploymentReady(creds, "kube-system", "coredns"));
      log(`cluster DNS ready at ${n.dnsIp}`);
      // Pods in `default` need its ServiceAccount, which the controller-manager creates a moment after start.
      await waitUntil("ServiceAccount default/default", deadline, running, () => exists(creds, "/api/v1/namespaces/default/serviceaccounts/default"));
    }
    return state;
  } catch (err) {
    await stopEverything(l.dir, state, log);
    await fs.rm(statePath(l.dir), { force: true });
    throw err;
  } finally {
    releasePorts(Object.values(ports));
  }
}

/**
 * Stop what a state records: the node's kubelet and kube-proxy, then its containers and containerd with
 * everything they left on the machine, then the control plane in reverse start order. Returns the names of
 * the components that were running, and what of the node could not be removed.
 */
async function stopEverything(dir: string, state: ControlPlaneState, log: Log): Promise<{ stopped: ComponentName[]; leftovers: string[] }> {
  const stopped: ComponentName[] = [];
  const stopOne = async (c: ComponentState) => {
    const result = await stopProcess(c.pid, c.binary);
    if (result !== "not running") stopped.push(c.name);
    log(`${c.name} (pid ${c.pid}): ${result}`);
  };
  const byName = (name: ComponentName) => state.components.find((c) => c.name === name);
  let leftovers: string[] = [];
  if (state.realNode) {
    for (const name of ["kube-proxy", "kubelet"] as const) {
      const c = byName(name);
      if (c) await stopOne(c);
    }
    const containerd = byName("containerd");
    // The control plane goes before the network: the apiserver's own shutdown talks to the address it binds.
    const teardown = await teardownNode(dir, nodeLayout(dir), networkOf(state.realNode.slot), async () => {
      if (containerd) await stopOne(containerd);
      for (const c of [...state.components].reverse()) if (!nodeComponents.includes(c.name)) await stopOne(c);
    });
    leftovers = teardown.leftovers;
    for (const left of leftovers) log(`left behind: ${left}`);
  } else {
    for (const c of [...state.components].reverse()) await stopOne(c);
  }
  return { stopped, leftovers };
}

function realNodeOf(dir: string, n: NodeNetwork): RealNode {
  return {
    name: realNodeName,
    nodeIp: n.nodeIp,
    netns: n.netns,
    podCidr: n.podCidr,
    serviceCidr: n.serviceCidr,
    dnsIp: n.dnsIp,
    containerdSocket: nodeLayout(dir).containerdSocket,
  };
}

function toControlPlane(dir: string, state: ControlPlaneState, reused: boolean): ControlPlane {
  const n = state.realNode ? networkOf(state.realNode.slot) : undefined;
  const kwokNames = Array.from({ length: state.nodes }, (_, i) => flags.nodeName(i));
  return {
    dir,
    kubeconfigPath: path.join(dir, "kubeconfig"),
    apiserverUrl: state.apiserverUrl,
    reused,
    nodes: state.nodes,
    nodeNames: n ? [realNodeName, ...kwokNames] : kwokNames,
    components: state.components,
    ...(n ? { nodeAddress: n.hostAddress, realNode: realNodeOf(dir, n) } : {}),
  };
}

/**
 * Hold DIR/up.lock while fn runs, so two `up`s on one directory never start two control planes. A lock
 * whose owner process is gone is taken over.
 */
async function withDirLock<T>(dir: string, deadline: number, log: Log, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, "up.lock");
  let waiting = false;
  for (;;) {
    try {
      await fs.writeFile(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number(await fs.readFile(lock, "utf8").catch(() => ""));
      if (!Number.isInteger(owner) || owner <= 0 || !(await processArgv(owner))) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new ControlPlaneError(`another \`up\` (pid ${owner}) holds ${lock}`);
      if (!waiting) log(`waiting for another \`up\` (pid ${owner}) on ${dir}`);
      waiting = true;
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

/** Start a control plane in opts.dir, or return the healthy one already running there. */
export async function up(opts: UpOptions): Promise<ControlPlane> {
  const dir = path.resolve(opts.dir);
  const log = opts.log ?? (() => {});
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  if (opts.nodes !== undefined && (!Number.isInteger(opts.nodes) || opts.nodes < 0)) throw new Error(`nodes must be a count, got ${opts.nodes}`);
  const recorded = await readState(dir).catch(() => undefined);
  const realNode = await wantRealNode(opts.realNode, recorded, log);
  if (realNode && nodeLayout(dir).containerdSocket.length > maxSocketPath) {
    throw new Error(`directory ${dir} is too long for the node's containerd socket (${nodeLayout(dir).containerdSocket}: at most ${maxSocketPath} characters); use a shorter --dir`);
  }
  for (const image of opts.images ?? []) await fs.access(image).catch(() => {
    throw new Error(`image archive ${image} does not exist`);
  });
  // Preflight: a missing tool is reported before anything is written.
  await resolveBinaries(opts.nodes ?? recorded?.nodes ?? 0, realNode);
  await fs.mkdir(path.join(dir, "logs"), { recursive: true });
  const cp = await withDirLock(dir, deadline, log, () => upLocked(dir, opts.nodes, realNode, opts.images ?? [], deadline, log, opts.profiling === true));
  if (cp.realNode && opts.mooringImages !== false) {
    await provideMooringImages(dir, log).catch((err: Error) => {
      throw new Error(`the cluster in ${dir} is up, but Mooring's images are not on its node: ${err.message}\n(run up again once fixed, or pass --mooring-images=false to go without them)`);
    });
  }
  return cp;
}

/** Whether `up` runs a real node: as asked; else as a running DIR has it; else where the machine can. */
async function wantRealNode(asked: boolean | undefined, recorded: ControlPlaneState | undefined, log: Log): Promise<boolean> {
  if (asked === false) return false;
  const readiness = await checkNodePrerequisites();
  if (asked === true) {
    if (!readiness.ok) throw new NodeUnavailableError(readiness.reasons);
    return true;
  }
  if (recorded) {
    if (recorded.realNode && !readiness.ok) throw new NodeUnavailableError(readiness.reasons);
    return recorded.realNode !== undefined;
  }
  if (!readiness.ok) log(`no real node (kwok nodes only): ${readiness.reasons.join("; ")}`);
  return readiness.ok;
}

async function upLocked(dir: string, requestedNodes: number | undefined, realNode: boolean, images: string[], deadline: number, log: Log, profiling: boolean): Promise<ControlPlane> {
  let previous: ControlPlaneState | undefined;
  try {
    previous = await readState(dir);
  } catch (err) {
    if (!(err instanceof StateError)) throw err;
    log(`${err.message}; starting afresh`);
  }
  if (previous) {
    const found = await problems(dir, previous);
    const nodesChanged = requestedNodes !== undefined && requestedNodes !== previous.nodes;
    const realNodeChanged = realNode !== (previous.realNode !== undefined);
    if (found.length === 0 && !nodesChanged && !realNodeChanged) {
      log(`reusing the control plane running in ${dir}`);
      for (const image of images) await importImage(dir, image);
      return toControlPlane(dir, previous, true);
    }
    const stopped = found.length === previous.components.length && found.every((f) => f.endsWith("is not running"));
    if (nodesChanged) log(`restarting: running with ${previous.nodes} kwok node(s), ${requestedNodes} asked`);
    else if (realNodeChanged) log(`restarting: ${realNode ? "with" : "without"} a real node`);
    else if (stopped) log(`starting the stopped control plane kept in ${dir}`);
    else log(`restarting: ${found.join("; ")}`);
    await stopEverything(dir, previous, log);
    await fs.rm(statePath(dir), { force: true });
  }

  const nodes = requestedNodes ?? previous?.nodes ?? 0;
  const bins = await resolveBinaries(nodes, realNode);
  const before = (name: ComponentName, port: string) => previous?.components.find((c) => c.name === name)?.ports[port];
  for (let attempt = 1; ; attempt++) {
    // A restart keeps its ports when it can, so an exported KUBECONFIG stays valid.
    const ports: flags.Ports = {
      etcdClient: await preferPort(attempt === 1 ? before("etcd", "client") : undefined),
      etcdPeer: await preferPort(attempt === 1 ? before("etcd", "peer") : undefined),
      apiserver: await preferPort(attempt === 1 ? before("kube-apiserver", "secure") : undefined),
      controllerManager: await preferPort(undefined),
      scheduler: await preferPort(undefined),
    };
    // A restart keeps its network slot when it is free, so the node's addresses stay the same.
    let network: NodeNetwork | undefined;
    try {
      network = realNode ? await claimNetwork(previous?.realNode?.slot ?? preferredSlot(dir), log) : undefined;
    } catch (err) {
      releasePorts(Object.values(ports));
      throw err;
    }
    try {
      const pki = await ensurePki(dir, network?.serviceIp ?? flags.serviceIp, network ? [network.hostAddress] : []);
      const l = flags.layout(dir, pki, network, profiling);
      const state = await startOnce(l, bins, ports, nodes, images, deadline, log);
      return toControlPlane(dir, state, false);
    } catch (err) {
      // startOnce released the network with the node; a failure before it did not.
      if (network) await releaseNetwork(network).catch(() => {});
      if (!(err instanceof PortTaken)) throw err;
      if (attempt >= 3) throw new ControlPlaneError(`a port stayed taken after ${attempt} attempts: ${err.message}`);
      log(`${err.message}; retrying with other ports`);
    }
  }
}

export interface DownOptions {
  dir: string;
  /** Keep data, PKI, logs and state (a later `up` restarts on the same data and ports). Default: remove them. */
  keep?: boolean;
  log?: Log;
}

/** The entries `up` creates in DIR (removed by `down` unless keep). */
const ownedEntries = ["up.lock", "state.json", "kubeconfig", "kubeconfigs", "pki", "etcd", "logs", "node", extrasFile];

/**
 * Stop exactly the processes `up` recorded in DIR and remove everything the real node put on the machine
 * (containers, shims, mounts, its network and iptables rules, cgroups); remove DIR's state unless keep.
 * `leftovers` lists what of the node could not be removed (empty on success).
 */
export async function down(opts: DownOptions): Promise<{ stopped: ComponentName[]; leftovers: string[] }> {
  const dir = path.resolve(opts.dir);
  const log = opts.log ?? (() => {});
  const state = await readState(dir);
  // Processes started next to the control plane (local controllers, a git host) go first.
  await stopExtras(dir, log);
  const { stopped, leftovers } = state ? await stopEverything(dir, state, log) : { stopped: [], leftovers: [] };
  // With keep, state.json stays too: the next `up` restarts on the same data and, when free, the same ports.
  if (!opts.keep) {
    await Promise.all(ownedEntries.map((e) => fs.rm(path.join(dir, e), { recursive: true, force: true })));
    await fs.rmdir(dir).catch(() => {}); // only when nothing else lives there
  }
  return { stopped, leftovers };
}

export interface ComponentStatus {
  name: ComponentName;
  pid: number;
  running: boolean;
  ports: Record<string, number>;
  log: string;
}

export interface Status {
  dir: string;
  /** False when DIR has no recorded control plane. */
  exists: boolean;
  apiserverUrl?: string;
  kubeconfigPath?: string;
  nodes?: number;
  components: ComponentStatus[];
  readyz: { ok: boolean; detail: string };
  /** The real node, with whether its Node is Ready; absent without one. */
  realNode?: RealNode & { ready: boolean; nodeAddress: string };
}

export async function status(opts: { dir: string }): Promise<Status> {
  const dir = path.resolve(opts.dir);
  const state = await readState(dir);
  if (!state) return { dir, exists: false, components: [], readyz: { ok: false, detail: "no control plane recorded in this directory" } };
  const components = await Promise.all(
    state.components.map(async (c) => ({ name: c.name, pid: c.pid, running: await runsBinary(c.pid, c.binary), ports: c.ports, log: c.log })),
  );
  let ready: { ok: boolean; detail: string };
  let realNode: Status["realNode"];
  try {
    const creds = await adminCredentials(pkiPaths(dir), state.apiserverUrl);
    ready = await readyz(creds);
    if (state.realNode) {
      const n = networkOf(state.realNode.slot);
      const nodeIsReady = ready.ok ? await nodeReady(creds, realNodeName).catch(() => false) : false;
      realNode = { ...realNodeOf(dir, n), ready: nodeIsReady, nodeAddress: n.hostAddress };
    }
  } catch (err) {
    ready = { ok: false, detail: (err as Error).message };
  }
  return {
    dir,
    exists: true,
    apiserverUrl: state.apiserverUrl,
    kubeconfigPath: path.join(dir, "kubeconfig"),
    nodes: state.nodes,
    components,
    readyz: ready,
    ...(realNode ? { realNode } : {}),
  };
}
