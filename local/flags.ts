// Command lines of the control plane's components, as pure functions of the layout and ports.
import * as path from "node:path";
import type { Pki } from "./pki";
import type { NodeNetwork } from "./network";

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
}

export interface Layout {
  dir: string;
  pki: Pki;
  etcdData: string;
  logs: string;
  adminKubeconfig: string;
  kubeconfigs: { controllerManager: string; scheduler: string; kwok: string; kubelet: string; kubeProxy: string };
  /** The real node's network, when the control plane has one. */
  network?: NodeNetwork;
  /** Serve the apiserver's /debug/pprof (benchmarks profile it); off otherwise, as in production. */
  profiling?: boolean;
}

/** Services of a cluster without a real node: a /16, room for the thousands of Services the benchmarks create. */
export const serviceCidr = "10.0.0.0/16";
/** The first address of the service range: the `kubernetes` Service's ClusterIP. */
export const serviceIp = "10.0.0.1";
/** Pod IPs kwok hands out; disjoint from the service range. */
export const podCidr = "10.244.0.1/16";
export const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local";
/** The annotation that marks the Nodes kwok plays the kubelet for. */
export const kwokNodeAnnotation = { key: "kwok.x-k8s.io/node", value: "fake" };

export function layout(dir: string, pki: Pki, network?: NodeNetwork, profiling = false): Layout {
  const kc = path.join(dir, "kubeconfigs");
  return {
    dir,
    pki,
    ...(network ? { network } : {}),
    ...(profiling ? { profiling } : {}),
    etcdData: path.join(dir, "etcd"),
    logs: path.join(dir, "logs"),
    adminKubeconfig: path.join(dir, "kubeconfig"),
    kubeconfigs: {
      controllerManager: path.join(kc, "controller-manager.kubeconfig"),
      scheduler: path.join(kc, "scheduler.kubeconfig"),
      kwok: path.join(kc, "kwok.kubeconfig"),
      kubelet: path.join(kc, "kubelet.kubeconfig"),
      kubeProxy: path.join(kc, "kube-proxy.kubeconfig"),
    },
  };
}

export function etcdArgs(l: Layout, p: Ports): string[] {
  const client = `http://127.0.0.1:${p.etcdClient}`;
  const peer = `http://127.0.0.1:${p.etcdPeer}`;
  return [
    "--name=mooring",
    `--data-dir=${l.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=mooring=${peer}`,
    // A throwaway local store: durability across power loss is not worth an fsync per write.
    "--unsafe-no-fsync",
    "--log-level=warn",
  ];
}

/** The address the apiserver binds and advertises: the host end of the node's link, else loopback. */
export function apiserverAddress(l: Pick<Layout, "network">): string {
  return l.network?.hostAddress ?? "127.0.0.1";
}

export function apiserverArgs(l: Layout, p: Ports): string[] {
  const n = l.network;
  // With a real node, pods reach the apiserver through the `kubernetes` Service, whose endpoint is the
  // advertised address; without one, a loopback address is not a valid Endpoints IP and nothing needs it.
  const network = n
    ? [
        `--service-cluster-ip-range=${n.serviceCidr}`,
        `--kubelet-client-certificate=${l.pki.apiserverKubeletClient.cert}`,
        `--kubelet-client-key=${l.pki.apiserverKubeletClient.key}`,
        // The node's host name resolves to 127.0.0.1 here; its InternalIP is the one to dial.
        "--kubelet-preferred-address-types=InternalIP",
      ]
    : [`--service-cluster-ip-range=${serviceCidr}`, "--endpoint-reconciler-type=none"];
  return [
    `--etcd-servers=http://127.0.0.1:${p.etcdClient}`,
    `--bind-address=${apiserverAddress(l)}`,
    `--advertise-address=${apiserverAddress(l)}`,
    `--secure-port=${p.apiserver}`,
    `--tls-cert-file=${l.pki.apiserver.cert}`,
    `--tls-private-key-file=${l.pki.apiserver.key}`,
    `--client-ca-file=${l.pki.ca.cert}`,
    "--authorization-mode=Node,RBAC",
    `--service-account-issuer=${serviceAccountIssuer}`,
    `--service-account-key-file=${l.pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${l.pki.serviceAccountKey}`,
    ...network,
    "--allow-privileged=true",
    `--profiling=${l.profiling === true}`,
  ];
}

export function controllerManagerArgs(l: Layout, p: Ports): string[] {
  return [
    `--kubeconfig=${l.kubeconfigs.controllerManager}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${p.controllerManager}`,
    `--cert-dir=${path.join(l.pki.dir, "controller-manager-generated")}`,
    "--leader-elect=false",
    "--use-service-account-credentials=true",
    `--service-account-private-key-file=${l.pki.serviceAccountKey}`,
    `--root-ca-file=${l.pki.ca.cert}`,
    `--cluster-signing-cert-file=${l.pki.ca.cert}`,
    `--cluster-signing-key-file=${l.pki.ca.key}`,
    // Its default, 20 requests/s per controller, lets the deployment controller (four requests per
    // Deployment) create about five ReplicaSets a second: a thousand Deployments would wait minutes on it,
    // whatever applied them.
    "--kube-api-qps=200",
    "--kube-api-burst=400",
    "--profiling=false",
  ];
}

export function schedulerArgs(l: Layout, p: Ports): string[] {
  return [
    `--kubeconfig=${l.kubeconfigs.scheduler}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${p.scheduler}`,
    "--leader-elect=false",
    "--profiling=false",
  ];
}

export function kwokArgs(l: Layout): string[] {
  return [
    `--kubeconfig=${l.kubeconfigs.kwok}`,
    // Only the Nodes `up` creates: other Nodes in the cluster are someone else's.
    "--manage-all-nodes=false",
    `--manage-nodes-with-annotation-selector=${kwokNodeAnnotation.key}=${kwokNodeAnnotation.value}`,
    `--cidr=${l.network?.fakePodCidr ?? podCidr}`,
    "--node-ip=127.0.0.1",
    // Heartbeats through a Lease, as a kubelet's: without one kwok patches the Node's status only about once
    // a minute, past the node controller's 50 s grace, which then marks the Node NotReady and every pod on it
    // Ready=False for good (kwok does not set a running pod Ready again).
    "--node-lease-duration-seconds=40",
  ];
}

/** Name of the i-th (0-based) fake Node. */
export function nodeName(i: number): string {
  return `kwok-node-${i}`;
}

/** A fake Node kwok adopts; Nodes accept status on create, so it starts with capacity. */
export function nodeManifest(name: string): Record<string, unknown> {
  const capacity = { cpu: "32", memory: "256Gi", pods: "110" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [kwokNodeAnnotation.key]: kwokNodeAnnotation.value, "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/role": "agent",
        "node-role.kubernetes.io/agent": "",
        type: "kwok",
      },
    },
    spec: {},
    status: { capacity, allocatable: capacity, nodeInfo: { kubeletVersion: "fake", architecture: "amd64", operatingSystem: "linux" } },
  };
}
