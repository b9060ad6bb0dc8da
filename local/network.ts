// The real node's network. Each cluster directory gets a slot s (0-249) and with it a network namespace of
// its own, `mooring-<s>`, where containerd, the kubelet, kube-proxy and every pod live; a veth pair links it
// to the host. kube-proxy's iptables chains have fixed names, so one network namespace per node is what lets
// several clusters run side by side. Addresses of slot s (none of them routed anywhere else):
//
//   10.222.s.0/30  the veth link: 10.222.s.1 on the host (the apiserver and local services bind it),
//                  10.222.s.2 in the node's namespace (the Node's InternalIP)
//   10.223.s.0/24  pods, on the bridge `mooring0` inside the node's namespace (gateway .1)
//   10.224.s.0/24  Services (kubernetes = .1, kube-dns = .10)
//   10.225.s.0/24  IPs of kwok's fake pods (never reachable)
//
// Nothing in the node's namespace has a route beyond the host end of the link, the host never forwards to
// or from the link, and pods get no default route: traffic stays between the host and the node.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";

export const slotCount = 250;

export interface NodeNetwork {
  slot: number;
  /** Network namespace name (`ip netns`), file /run/netns/<netns>. */
  netns: string;
  /** Host end of the veth pair. */
  hostInterface: string;
  /** Address of the host end: pods reach the apiserver and local services here. */
  hostAddress: string;
  /** The node's address in its own namespace (Node InternalIP, kubelet). */
  nodeIp: string;
  linkCidr: string;
  podCidr: string;
  podGateway: string;
  serviceCidr: string;
  /** The `kubernetes` Service's ClusterIP: first address of the Service range. */
  serviceIp: string;
  /** The `kube-dns` Service's ClusterIP: tenth address of the Service range. */
  dnsIp: string;
  /** Range kwok hands fake pods when kwok nodes run beside the real one. */
  fakePodCidr: string;
  /** Name of the bridge inside the node's namespace. */
  bridge: string;
  /** Name of the node end of the veth pair, inside the node's namespace. */
  nodeInterface: string;
}

/** The address plan of a slot (pure). */
export function networkOf(slot: number): NodeNetwork {
  if (!Number.isInteger(slot) || slot < 0 || slot >= slotCount) throw new Error(`network slot must be 0-${slotCount - 1}, got ${slot}`);
  return {
    slot,
    netns: `mooring-${slot}`,
    hostInterface: `mooring${slot}`,
    hostAddress: `10.222.${slot}.1`,
    nodeIp: `10.222.${slot}.2`,
    linkCidr: `10.222.${slot}.0/30`,
    podCidr: `10.223.${slot}.0/24`,
    podGateway: `10.223.${slot}.1`,
    serviceCidr: `10.224.${slot}.0/24`,
    serviceIp: `10.224.${slot}.1`,
    dnsIp: `10.224.${slot}.10`,
    fakePodCidr: `10.225.${slot}.1/24`,
    bridge: "mooring0",
    nodeInterface: "eth0",
  };
}

/** The slot a directory tries first, so a restart usually keeps its addresses. */
export function preferredSlot(dir: string): number {
  return createHash("sha256").update(dir).digest().readUInt32BE(0) % slotCount;
}

/** The iptables chain on the host that drops forwarding to and from a slot's link. */
export function hostGuardChain(n: NodeNetwork): string {
  return `MOORING-${n.slot}`;
}

const guardChainInNode = "MOORING-GUARD";

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

function cidrRange(cidr: string): [number, number] {
  const [ip, bits] = cidr.split("/");
  const size = 2 ** (32 - Number(bits ?? 32));
  const start = Math.floor(ipv4ToInt(ip!) / size) * size;
  return [start, start + size - 1];
}

/** True when two IPv4 CIDRs share an address (pure). */
export function overlaps(a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a);
  const [b0, b1] = cidrRange(b);
  return a0 <= b1 && b0 <= a1;
}

/** Destinations of `ip -4 route show table all` lines other than default routes (pure). */
export function routedCidrs(ipRouteOutput: string): string[] {
  const out: string[] = [];
  for (const line of ipRouteOutput.split("\n")) {
    const words = line.trim().split(/\s+/);
    let dst = words[0] === "local" || words[0] === "broadcast" || words[0] === "unreachable" || words[0] === "blackhole" ? words[1] : words[0];
    if (!dst || dst === "default" || !/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dst)) continue;
    if (!dst.includes("/")) dst += "/32";
    out.push(dst);
  }
  return out;
}

/** The ranges of a slot that something on the machine already routes, or [] (pure). */
export function slotConflicts(n: NodeNetwork, routed: string[]): string[] {
  const mine = [n.linkCidr, n.podCidr, n.serviceCidr, n.fakePodCidr.replace(/\.1\/24$/, ".0/24")];
  return routed.filter((r) => !r.startsWith("127.") && mine.some((m) => overlaps(m, r)));
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly code: number | string | undefined,
  ) {
    super(`${command} failed: ${stderr.trim() || `exit ${String(code)}`}`);
    this.name = "CommandError";
  }
}

/** Run a command (no shell); resolves stdout, rejects with CommandError. */
export function run(binary: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      reject(new CommandError(`${binary} ${args.join(" ")}`, stderr || err.message, (err as NodeJS.ErrnoException).code ?? undefined));
    });
  });
}

/** Run a command inside a network namespace. */
export function inNetns(n: NodeNetwork, binary: string, args: string[], timeoutMs?: number): Promise<string> {
  return run("nsenter", [`--net=${netnsPath(n)}`, "--", binary, ...args], timeoutMs);
}

export function netnsPath(n: NodeNetwork): string {
  return `/run/netns/${n.netns}`;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/**
 * Claim a free slot, trying `preferred` first: a slot is taken when its veth or namespace exists or when the
 * machine routes any of its ranges. Creating the veth pair is the atomic claim.
 */
export async function claimNetwork(preferred: number, log: (line: string) => void): Promise<NodeNetwork> {
  const routed = routedCidrs(await run("ip", ["-4", "route", "show", "table", "all"]));
  for (let i = 0; i < slotCount; i++) {
    const n = networkOf((preferred + i) % slotCount);
    if (slotConflicts(n, routed).length > 0) continue;
    if (await exists(netnsPath(n))) continue;
    try {
      await run("ip", ["link", "add", n.hostInterface, "type", "veth", "peer", "name", `${n.hostInterface}n`]);
    } catch (err) {
      if (err instanceof CommandError && /exists/i.test(err.stderr)) continue;
      throw err;
    }
    try {
      await configure(n);
    } catch (err) {
      await releaseNetwork(n).catch(() => {});
      throw err;
    }
    if (n.slot !== preferred) log(`network slot ${preferred} is taken; using slot ${n.slot}`);
    return n;
  }
  throw new Error(`no free network slot: all ${slotCount} of 10.222-10.225.<slot>.0/24 are in use or routed on this machine`);
}

async function configure(n: NodeNetwork): Promise<void> {
  const peer = `${n.hostInterface}n`;
  await run("ip", ["netns", "add", n.netns]);
  await run("ip", ["link", "set", peer, "netns", n.netns]);
  const ns = (args: string[]) => inNetns(n, "ip", args);
  await ns(["link", "set", peer, "name", n.nodeInterface]);
  await ns(["addr", "add", `${n.nodeIp}/30`, "dev", n.nodeInterface]);
  await ns(["link", "set", n.nodeInterface, "up"]);
  await ns(["link", "set", "lo", "up"]);
  await run("ip", ["addr", "add", `${n.hostAddress}/30`, "dev", n.hostInterface]);
  await run("ip", ["link", "set", n.hostInterface, "up"]);
  // Pods, Services and kwok's fake pods are reached through the node.
  for (const cidr of [n.podCidr, n.serviceCidr, n.fakePodCidr.replace(/\.1\/24$/, ".0/24")]) {
    await run("ip", ["route", "add", cidr, "via", n.nodeIp, "dev", n.hostInterface]);
  }
  // The node forwards between its link and the pod bridge (host to pods and Services, pods to the host).
  await inNetns(n, "sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
  // In the node: nothing leaves the link except towards the host's end of it.
  await inNetns(n, "iptables", ["-w", "-N", guardChainInNode]);
  await inNetns(n, "iptables", ["-w", "-A", guardChainInNode, "-o", n.nodeInterface, "!", "-d", `${n.hostAddress}/32`, "-j", "DROP"]);
  await inNetns(n, "iptables", ["-w", "-I", "FORWARD", "1", "-j", guardChainInNode]);
  await inNetns(n, "iptables", ["-w", "-I", "OUTPUT", "1", "-j", guardChainInNode]);
  // On the host: never route the node's traffic anywhere else, nor anything else into the node.
  const chain = hostGuardChain(n);
  await run("iptables", ["-w", "-N", chain]).catch((err: unknown) => {
    if (!(err instanceof CommandError && /exists/i.test(err.stderr))) throw err;
  });
  await run("iptables", ["-w", "-F", chain]);
  await run("iptables", ["-w", "-A", chain, "-j", "DROP"]);
  await run("iptables", ["-w", "-I", "FORWARD", "1", "-i", n.hostInterface, "-j", chain]);
  await run("iptables", ["-w", "-I", "FORWARD", "1", "-o", n.hostInterface, "-j", chain]);
}

/** True when the slot's namespace and host interface exist (the network survived since `up`). */
export async function networkPresent(n: NodeNetwork): Promise<boolean> {
  if (!(await exists(netnsPath(n)))) return false;
  return exists(`/sys/class/net/${n.hostInterface}`);
}

/**
 * Remove everything of a slot's network: the namespace (its bridge, veths and iptables rules go with it), the
 * host end of the link and its routes, and the host's guard rules. Idempotent.
 */
export async function releaseNetwork(n: NodeNetwork): Promise<void> {
  const chain = hostGuardChain(n);
  for (const dir of ["-i", "-o"]) {
    for (;;) {
      try {
        await run("iptables", ["-w", "-D", "FORWARD", dir, n.hostInterface, "-j", chain]);
      } catch {
        break;
      }
    }
  }
  await run("iptables", ["-w", "-F", chain]).catch(() => {});
  await run("iptables", ["-w", "-X", chain]).catch(() => {});
  if (await exists(netnsPath(n))) await run("ip", ["netns", "delete", n.netns]);
  if (await exists(`/sys/class/net/${n.hostInterface}`)) await run("ip", ["link", "delete", n.hostInterface]).catch(() => {});
  // The namespace's interfaces go a moment after its last reference.
  for (let i = 0; i < 40 && (await exists(`/sys/class/net/${n.hostInterface}`)); i++) await new Promise((r) => setTimeout(r, 50));
}
