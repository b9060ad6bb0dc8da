// `mooring local up|down|status --dir DIR`: a real local control plane, left running detached.
import * as path from "node:path";
import { checkFlags, parseArgs, stringFlag } from "./args";
import { down, status, up } from "../local/controlplane";

const usage = `usage:
  mooring local up --dir DIR [--nodes N] [--real-node[=true|false]] [--images A.tar,B.tar] [--mooring-images=false]
      start (or reuse) a cluster; prints export KUBECONFIG=...
      a real node (containerd, kubelet, kube-proxy, CoreDNS) runs where the machine can run containers;
      --real-node=false runs none, --real-node fails with the reason when it cannot; --nodes N adds kwok
      fake nodes; --images imports OCI image archives into the real node; the controllers image and the
      demo app image are built offline (when changed) and imported unless --mooring-images=false
  mooring local down --dir DIR [--keep]    stop it and remove what the node left; --keep keeps data, PKI and logs
  mooring local status --dir DIR           show its processes, its node and /readyz
`;

const progress = (line: string) => process.stderr.write(`mooring local: ${line}\n`);

function dirFlag(args: ReturnType<typeof parseArgs>): string {
  const dir = stringFlag(args, "dir");
  if (!dir) throw new Error("--dir DIR is required");
  return path.resolve(process.cwd(), dir);
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** --NAME (true), --NAME=true|false, or absent. */
function booleanFlag(name: string, v: string | true | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === true || v === "true") return true;
  if (v === "false") return false;
  throw new Error(`--${name} takes true or false, got ${v}`);
}

export async function localCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    switch (verb) {
      case "up": {
        const args = parseArgs(rest, ["real-node", "mooring-images"]);
        checkFlags(args, ["dir", "nodes", "real-node", "images", "mooring-images"]);
        const nodesFlag = stringFlag(args, "nodes");
        const nodes = nodesFlag === undefined ? undefined : Number(nodesFlag);
        if (nodes !== undefined && (!Number.isInteger(nodes) || nodes < 0)) throw new Error(`--nodes must be a whole number, got ${nodesFlag}`);
        const realNode = booleanFlag("real-node", args.flags.get("real-node"));
        const mooringImages = booleanFlag("mooring-images", args.flags.get("mooring-images"));
        const images = stringFlag(args, "images")?.split(",").filter(Boolean).map((f) => path.resolve(process.cwd(), f));
        const started = Date.now();
        const cp = await up({ dir: dirFlag(args), nodes, log: progress, ...(realNode === undefined ? {} : { realNode }), ...(images ? { images } : {}), ...(mooringImages === undefined ? {} : { mooringImages }) });
        const what = cp.realNode ? `real node ${cp.realNode.name} (${cp.realNode.nodeIp}) + ${cp.nodes} kwok node(s)` : `${cp.nodes} kwok node(s)`;
        progress(`${cp.reused ? "reused" : "ready"} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${cp.apiserverUrl}, ${what}`);
        if (cp.nodeAddress) progress(`pods reach this machine at ${cp.nodeAddress}: bind local services for them (a git host) there`);
        process.stdout.write(`export KUBECONFIG=${shellQuote(cp.kubeconfigPath)}\n`);
        return 0;
      }
      case "down": {
        const args = parseArgs(rest, ["keep"]);
        checkFlags(args, ["dir", "keep"]);
        const dir = dirFlag(args);
        const { stopped, leftovers } = await down({ dir, keep: args.flags.get("keep") === true, log: progress });
        progress(stopped.length ? `stopped ${stopped.join(", ")}` : "nothing was running");
        if (leftovers.length) {
          progress(`could not remove: ${leftovers.join("; ")}`);
          return 1;
        }
        return 0;
      }
      case "status": {
        const args = parseArgs(rest);
        checkFlags(args, ["dir"]);
        const s = await status({ dir: dirFlag(args) });
        if (!s.exists) {
          process.stdout.write(`${s.dir}: no control plane\n`);
          return 1;
        }
        process.stdout.write(`dir:        ${s.dir}\napiserver:  ${s.apiserverUrl}\nkubeconfig: ${s.kubeconfigPath}\nnodes:      ${s.nodes}\n`);
        process.stdout.write(`readyz:     ${s.readyz.ok ? "ok" : s.readyz.detail}\n`);
        if (s.realNode) {
          const n = s.realNode;
          process.stdout.write(`real node:  ${n.name} ${n.ready ? "Ready" : "NOT Ready"} (InternalIP ${n.nodeIp}, namespace ${n.netns})\n`);
          process.stdout.write(`networks:   pods ${n.podCidr}, Services ${n.serviceCidr}, DNS ${n.dnsIp}, pods reach the host at ${n.nodeAddress}\n`);
        } else process.stdout.write("real node:  none\n");
        process.stdout.write("\n");
        const rows = [["COMPONENT", "PID", "RUNNING", "PORTS"], ...s.components.map((c) => [c.name, String(c.pid), c.running ? "yes" : "NO", Object.entries(c.ports).map(([k, v]) => `${k}=${v}`).join(" ")])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows) process.stdout.write(r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
        return s.readyz.ok && s.components.every((c) => c.running) && (s.realNode?.ready ?? true) ? 0 : 1;
      }
      case undefined:
      case "help":
      case "--help":
        process.stdout.write(usage);
        return verb === undefined ? 2 : 0;
      default:
        process.stderr.write(`mooring local: unknown subcommand "${verb}"\n${usage}`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`mooring local ${verb}: ${(err as Error).message}\n`);
    return 1;
  }
}
