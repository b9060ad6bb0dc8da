// What the e2e tests read from the real node: the controllers' pods, their leader Lease, their memory (the
// kubelet's /stats/summary), containerd's view (ctr), and the real flux CLI run against the cluster.
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import { createServer, type Server } from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import * as k8s from "@kubernetes/client-node";
import { status } from "../../local/controlplane";
import { nodeLayout } from "../../local/nodeconfig";
import { toolPath } from "../../local/tools";
import { testClusterDir } from "../harness/cluster";
import { kubeconfigPath } from "./helpers";

export interface RealNodeTarget {
  /** The Node's name. */
  name: string;
  /** The address of this machine that pods reach (bind git hosts there). */
  nodeAddress: string;
}

/** The test cluster's real node, or why there is none (a reason to skip). */
export async function realNodeTarget(): Promise<RealNodeTarget | string> {
  const s = await status({ dir: testClusterDir() });
  if (!s.realNode) return "the test cluster has no real node (this machine cannot run containers; see `mooring local up`)";
  if (!s.realNode.ready) return `the test cluster's node ${s.realNode.name} is not Ready`;
  return { name: s.realNode.name, nodeAddress: s.realNode.nodeAddress };
}

/** Pods of a controller Deployment (label app=NAME), without those being deleted. */
export async function controllerPods(core: k8s.CoreV1Api, namespace: string, name: string): Promise<k8s.V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

export function podReady(pod: k8s.V1Pod): boolean {
  return pod.status?.phase === "Running" && (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

/** Seconds from the container's start to the pod's Ready condition (the API's timestamps: whole seconds). */
export function startToReadySeconds(pod: k8s.V1Pod): number | undefined {
  const started = pod.status?.containerStatuses?.[0]?.state?.running?.startedAt;
  const ready = (pod.status?.conditions ?? []).find((c) => c.type === "Ready" && c.status === "True")?.lastTransitionTime;
  if (!started || !ready) return undefined;
  return (new Date(ready).getTime() - new Date(started).getTime()) / 1000;
}

/** The holder of a Lease ("<pod name>_<uuid>" for our controllers), or undefined. */
export async function leaseHolder(kc: k8s.KubeConfig, namespace: string, name: string): Promise<string | undefined> {
  const coord = kc.makeApiClient(k8s.CoordinationV1Api);
  const lease = await coord.readNamespacedLease({ namespace, name });
  return lease.spec?.holderIdentity ?? undefined;
}

function exec(binary: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code !== "number") return reject(err);
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code) : 0, stdout, stderr });
    });
  });
}

export async function kubectl(args: string[]): Promise<string> {
  const r = await exec(await toolPath("kubectl"), ["--kubeconfig", kubeconfigPath(), ...args]);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** ctr against the test cluster's node containerd, in the kubelet's namespace. */
export async function ctr(args: string[]): Promise<string> {
  const socket = nodeLayout(path.resolve(testClusterDir())).containerdSocket;
  const r = await exec("ctr", ["--address", socket, "--namespace", "k8s.io", ...args]);
  if (r.code !== 0) throw new Error(`ctr ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Working set bytes per container of the pods in namespace, from the kubelet's /stats/summary. */
export async function workingSets(node: string, namespace: string): Promise<Map<string, number>> {
  interface Summary {
    pods?: { podRef: { name: string; namespace: string }; containers?: { name: string; memory?: { workingSetBytes?: number } }[] }[];
  }
  const summary = JSON.parse(await kubectl(["get", "--raw", `/api/v1/nodes/${node}/proxy/stats/summary`])) as Summary;
  const out = new Map<string, number>();
  for (const pod of summary.pods ?? []) {
    if (pod.podRef.namespace !== namespace) continue;
    for (const c of pod.containers ?? []) if (c.memory?.workingSetBytes !== undefined) out.set(`${pod.podRef.name}/${c.name}`, c.memory.workingSetBytes);
  }
  return out;
}

export const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

export interface FluxRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The pinned flux CLI against the test cluster. */
export async function flux(args: string[], env: NodeJS.ProcessEnv = {}): Promise<FluxRun> {
  return exec(await toolPath("flux"), ["--kubeconfig", kubeconfigPath(), ...args], { env: { ...process.env, ...env }, timeoutMs: 180_000 });
}

export interface ReleaseStandIn {
  /** Environment for the flux CLI: its proxy and trust point at the stand-in; the apiserver is reached directly. */
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/**
 * `flux check` first asks api.github.com for the latest flux release and fails when it cannot. Nothing may
 * leave this machine, so the CLI gets an HTTPS proxy on loopback that answers that one question itself (with
 * the pinned version, over TLS from a throwaway CA the CLI is told to trust) and refuses every other CONNECT.
 */
export async function latestReleaseStandIn(version: string, apiserverHost: string): Promise<ReleaseStandIn> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "mooring-release-"));
  const file = (n: string) => path.join(work, n);
  const openssl = async (args: string[]) => {
    const r = await exec("openssl", args);
    if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr.trim()}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(["req", "-x509", ...ec, "-keyout", file("ca.key"), "-out", file("ca.crt"), "-days", "1", "-subj", "/CN=release stand-in CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
  await openssl(["req", "-x509", "-CA", file("ca.crt"), "-CAkey", file("ca.key"), ...ec, "-keyout", file("tls.key"), "-out", file("tls.crt"), "-days", "1", "-subj", "/CN=api.github.com", "-addext", "subjectAltName=DNS:api.github.com"]);
  const [key, cert] = await Promise.all([fs.readFile(file("tls.key")), fs.readFile(file("tls.crt"))]);
  const answer = createServer((req, res) => {
    if (req.url?.startsWith("/repos/fluxcd/flux2/releases/latest")) {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ tag_name: `v${version.replace(/^v/, "")}` }));
    } else res.writeHead(404).end();
  });
  const proxy: Server = createServer((_req, res) => res.writeHead(405).end());
  proxy.on("connect", (req, socket: net.Socket) => {
    if (req.url !== "api.github.com:443") {
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    const secure = new tls.TLSSocket(socket, { isServer: true, key, cert });
    answer.emit("connection", secure);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port } = proxy.address() as net.AddressInfo;
  return {
    env: { HTTPS_PROXY: `http://127.0.0.1:${port}`, HTTP_PROXY: `http://127.0.0.1:${port}`, NO_PROXY: apiserverHost, SSL_CERT_FILE: file("ca.crt") },
    close: async () => {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await fs.rm(work, { recursive: true, force: true });
    },
  };
}
