// The real node's host-side work: files and cgroups before its processes start, waiting for containerd, and
// the teardown that leaves nothing behind (containers, shims, mounts, network namespaces, interfaces,
// iptables rules, cgroups, kubelet log links).
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { cgroupRoot, cniConflist, containerdConfig, kubeletConfig, kubeProxyConfig, type NodeLayout } from "./nodeconfig";
import { releaseNetwork, run, type NodeNetwork } from "./network";
import { processArgv } from "./processes";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** Write the node's configuration files and create its directories and cgroups. */
export async function prepareNode(l: NodeLayout, n: NodeNetwork, caFile: string, kubeProxyKubeconfig: string): Promise<void> {
  for (const d of [l.root, l.containerdRoot, l.containerdState, l.runcRoot, l.cniConfDir, l.cniDataDir, l.kubeletRoot, l.kubeletCertDir, l.podLogsDir, l.images]) {
    await fs.mkdir(d, { recursive: true });
  }
  await fs.writeFile(l.containerdConfig, containerdConfig(l));
  // A fresh conflist each start; stale host-local leases from a stopped node would leak addresses.
  await fs.rm(l.cniDataDir, { recursive: true, force: true });
  await fs.mkdir(l.cniDataDir, { recursive: true });
  await fs.writeFile(path.join(l.cniConfDir, "10-mooring.conflist"), cniConflist(l, n));
  await fs.writeFile(l.kubeletConfig, kubeletConfig(l, n, caFile));
  await fs.writeFile(l.resolvConf, "");
  await fs.writeFile(l.kubeProxyConfig, kubeProxyConfig(n, kubeProxyKubeconfig));
  await createCgroups(n);
}

/** cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, or the v2 root itself). */
async function cgroupHierarchies(): Promise<string[]> {
  if (await exists("/sys/fs/cgroup/cgroup.controllers")) return ["/sys/fs/cgroup"];
  const entries = await fs.readdir("/sys/fs/cgroup", { withFileTypes: true });
  const out: string[] = [];
  for (const e of entries) {
    const p = path.join("/sys/fs/cgroup", e.name);
    // cpu and cpuacct may be links to one combined hierarchy.
    if (e.isDirectory() && (await exists(path.join(p, "cgroup.procs")))) out.push(p);
  }
  return out;
}

/** The kubelet wants its cgroup root to exist in every hierarchy. */
async function createCgroups(n: NodeNetwork): Promise<void> {
  for (const h of await cgroupHierarchies()) {
    const dir = path.join(h, cgroupRoot(n));
    await fs.mkdir(dir, { recursive: true });
    if (path.basename(h) === "cpuset") {
      // A new cpuset starts empty; a cgroup with no CPUs or memory nodes cannot hold a process.
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        const parent = (await fs.readFile(path.join(h, f), "utf8")).trim();
        if ((await fs.readFile(path.join(dir, f), "utf8")).trim() === "") await fs.writeFile(path.join(dir, f), parent);
      }
    }
  }
}

/** Remove the slot's cgroups, deepest first (only empty cgroups can go; every process is gone by now). */
async function removeCgroups(n: NodeNetwork): Promise<string[]> {
  const left: string[] = [];
  const removeTree = async (dir: string): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await removeTree(path.join(dir, e.name));
    for (let i = 0; i < 20; i++) {
      try {
        await fs.rmdir(dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
        await sleep(50);
      }
    }
    left.push(dir);
  };
  for (const h of await cgroupHierarchies()) {
    const dir = path.join(h, cgroupRoot(n));
    if (await exists(dir)) await removeTree(dir);
  }
  return left;
}

/** Wait until containerd answers on its socket. */
export async function waitContainerd(l: NodeLayout, deadline: number, alive: () => Promise<void>): Promise<void> {
  for (;;) {
    await alive();
    if (await exists(l.containerdSocket)) {
      try {
        await run("ctr", ["--address", l.containerdSocket, "version"], 5_000);
        return;
      } catch {
        // not serving yet
      }
    }
    if (Date.now() > deadline) throw new Error(`containerd did not answer on ${l.containerdSocket} in time`);
    await sleep(50);
  }
}

interface MountEntry {
  mountPoint: string;
  root: string;
  fsType: string;
}

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Mounts of this mount namespace (pure parser of /proc/self/mountinfo). */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0 || fields.length < 5) continue;
    out.push({ root: unescapeMount(fields[3]!), mountPoint: unescapeMount(fields[4]!), fsType: fields[sep + 1] ?? "" });
  }
  return out;
}

async function mounts(): Promise<MountEntry[]> {
  return parseMountinfo(await fs.readFile("/proc/self/mountinfo", "utf8"));
}

/** Mount points at or below dir, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  const found = (await mounts()).map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(found)].sort((a, b) => b.length - a.length);
}

async function unmount(target: string): Promise<void> {
  try {
    await run("umount", [target]);
  } catch {
    await run("umount", ["-l", target]).catch(() => {});
  }
}

/** Processes whose argv contains `needle` (e.g. the containerd shims of one socket). */
export async function processesWith(needle: string): Promise<{ pid: number; argv: string[] }[]> {
  const out: { pid: number; argv: string[] }[] = [];
  for (const name of await fs.readdir("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const argv = await processArgv(pid);
    if (argv?.includes(needle)) out.push({ pid, argv });
  }
  return out;
}

/** The network namespaces (nsfs inode ids, "net:[…]") of the node's running containers. */
async function containerNetnsIds(l: NodeLayout): Promise<Set<string>> {
  const ids = new Set<string>();
  const list = await run("ctr", ["--address", l.containerdSocket, "--namespace", "k8s.io", "tasks", "ls"], 10_000).catch(() => "");
  for (const line of list.split("\n").slice(1)) {
    const pid = Number(line.trim().split(/\s+/)[1]);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const id = await fs.readlink(`/proc/${pid}/ns/net`).catch(() => undefined);
    if (id) ids.add(id);
  }
  return ids;
}

/** Kill and delete every task (container process) of the node's containerd; their shims exit with them. */
async function removeTasks(l: NodeLayout): Promise<void> {
  const ctr = (args: string[]) => run("ctr", ["--address", l.containerdSocket, "--namespace", "k8s.io", ...args], 20_000);
  const ids = (await ctr(["tasks", "ls", "-q"]).catch(() => "")).split("\n").filter(Boolean);
  for (const id of ids) await ctr(["tasks", "kill", "--signal", "SIGKILL", id]).catch(() => {});
  for (const id of ids) {
    for (let i = 0; i < 40; i++) {
      try {
        await ctr(["tasks", "delete", "--force", id]);
        break;
      } catch {
        await sleep(100);
      }
    }
  }
}

export interface NodeTeardown {
  /** What could not be removed (empty when the machine is clean of the node). */
  leftovers: string[];
}

/**
 * Remove the node's containers, shims, pod network namespaces, mounts, network, cgroups and the kubelet's
 * log links. containerd must still run (or be gone already); the kubelet and kube-proxy are stopped first
 * by the caller. stopContainerd stops containerd between removing the tasks and sweeping what they left.
 */
export async function teardownNode(dir: string, l: NodeLayout, n: NodeNetwork, stopContainerd: () => Promise<void>): Promise<NodeTeardown> {
  const leftovers: string[] = [];
  const socketUp = await exists(l.containerdSocket);
  const netnsIds = socketUp ? await containerNetnsIds(l) : new Set<string>();
  if (socketUp) await removeTasks(l);
  await stopContainerd();
  // Shims outlive containerd; any still serving this node's containers is killed by pid.
  for (const shim of await processesWith(l.containerdSocket)) {
    try {
      process.kill(shim.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  // The pods' network namespaces are bind mounts under /run/netns (or /var/run/netns); ours are the ones the
  // node's containers were in, or any held there that lives inside the node's own namespace tree.
  for (const m of await mounts()) {
    if (m.fsType === "nsfs" && netnsIds.has(m.root) && /^\/(var\/)?run\/netns\//.test(m.mountPoint)) {
      await unmount(m.mountPoint);
      await fs.rm(m.mountPoint, { force: true });
    }
  }
  for (const m of await mountsUnder(dir)) await unmount(m);
  for (const m of await mountsUnder(dir)) leftovers.push(`mount ${m}`);
  await releaseNetwork(n);
  if (await exists(`/run/netns/${n.netns}`)) leftovers.push(`network namespace ${n.netns}`);
  if (await exists(`/sys/class/net/${n.hostInterface}`)) leftovers.push(`interface ${n.hostInterface}`);
  leftovers.push(...(await removeCgroups(n)).map((c) => `cgroup ${c}`));
  await removeLogLinks(l);
  await fs.rm(l.containerdSocket, { force: true });
  await fs.rm(`${l.containerdSocket}.ttrpc`, { force: true });
  return { leftovers };
}

/** The kubelet links every container's log into /var/log/containers; drop the links into this node's logs. */
async function removeLogLinks(l: NodeLayout): Promise<void> {
  const linkDir = "/var/log/containers";
  for (const name of await fs.readdir(linkDir).catch(() => [] as string[])) {
    const target = await fs.readlink(path.join(linkDir, name)).catch(() => "");
    if (target.startsWith(`${l.podLogsDir}/`)) await fs.rm(path.join(linkDir, name), { force: true });
  }
}
