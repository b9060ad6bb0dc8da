// What the real node needs from the machine, checked before anything starts: Debian's packages (each missing
// one named with the command that installs it) and the privileges to make network namespaces, mounts and
// cgroups. A machine that lacks any of them cannot run containers; `up` says exactly why.
import { promises as fs } from "node:fs";

export interface Prerequisite {
  /** What needs it, e.g. "containerd". */
  what: string;
  /** Files that must exist (any one of the alternatives in a nested list). */
  files: (string | string[])[];
  /** The Debian package that provides them. */
  aptPackage: string;
}

export const nodePrerequisites: Prerequisite[] = [
  { what: "containerd", files: ["/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/bin/ctr"], aptPackage: "containerd" },
  { what: "runc", files: [["/usr/sbin/runc", "/usr/bin/runc"]], aptPackage: "runc" },
  {
    what: "CNI plugins (bridge, host-local, loopback, portmap)",
    files: ["/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/lib/cni/portmap"],
    aptPackage: "containernetworking-plugins",
  },
  { what: "iptables", files: [["/usr/sbin/iptables", "/sbin/iptables"], ["/usr/sbin/iptables-restore", "/sbin/iptables-restore"]], aptPackage: "iptables" },
  { what: "ip (iproute2)", files: [["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]], aptPackage: "iproute2" },
  { what: "nsenter (util-linux)", files: [["/usr/bin/nsenter", "/bin/nsenter"]], aptPackage: "util-linux" },
];

/** The apt-get command that installs packages (pure). */
export function aptInstallCommand(packages: string[]): string {
  return `apt-get install -y ${[...new Set(packages)].join(" ")}`;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

export interface NodeReadiness {
  ok: boolean;
  /** One line per reason the machine cannot run the node; empty when ok. */
  reasons: string[];
  /** Packages to install, when any is missing. */
  missingPackages: string[];
}

/** Effective capabilities of this process (bit numbers), from /proc/self/status. */
async function effectiveCapabilities(): Promise<bigint> {
  const status = await fs.readFile("/proc/self/status", "utf8");
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex ? BigInt(`0x${hex}`) : 0n;
}

const capNetAdmin = 12n;
const capSysAdmin = 21n;

/** Whether this machine (and this process) can run the real node, and if not, why. `probe` tells if a file exists. */
export async function checkNodePrerequisites(probe: (file: string) => Promise<boolean> = exists): Promise<NodeReadiness> {
  const reasons: string[] = [];
  const missingPackages: string[] = [];
  for (const p of nodePrerequisites) {
    const missing: string[] = [];
    for (const f of p.files) {
      const alternatives = Array.isArray(f) ? f : [f];
      if (!(await Promise.all(alternatives.map(probe))).some(Boolean)) missing.push(alternatives[0]!);
    }
    if (missing.length > 0) {
      reasons.push(`${p.what} is missing (${missing.join(", ")})`);
      missingPackages.push(p.aptPackage);
    }
  }
  if (missingPackages.length > 0) reasons.push(`install with: ${aptInstallCommand(missingPackages)}`);
  if (process.getuid?.() !== 0) reasons.push("the real node needs root (network namespaces, mounts, cgroups); run as root or use kwok nodes only");
  else {
    const caps = await effectiveCapabilities();
    for (const [bit, name] of [[capNetAdmin, "CAP_NET_ADMIN"], [capSysAdmin, "CAP_SYS_ADMIN"]] as const) {
      if (((caps >> bit) & 1n) === 0n) reasons.push(`this process lacks ${name} (a container without privileges cannot run containers)`);
    }
  }
  if (!(await exists("/sys/fs/cgroup/memory")) && !(await exists("/sys/fs/cgroup/cgroup.controllers"))) {
    reasons.push("no cgroup hierarchy with the memory controller is mounted under /sys/fs/cgroup");
  }
  return { ok: reasons.length === 0, reasons, missingPackages };
}
