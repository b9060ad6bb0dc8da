// Configuration of the real node's parts, as pure functions of its layout and network: containerd, the CNI
// network, the kubelet, kube-proxy and the cluster DNS (CoreDNS) objects.
import * as path from "node:path";
import type { NodeNetwork } from "./network";

/** Name of the real Node. */
export const realNodeName = "mooring-node";
export const clusterDomain = "cluster.local";
/** References of the images `up` builds offline and imports into the node (never pulled). */
export const pauseImage = "mooring.local/pause:1";
export const corednsImage = "mooring.local/coredns:1.14.7";

export interface NodeLayout {
  root: string;
  containerdConfig: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  runcRoot: string;
  cniConfDir: string;
  cniDataDir: string;
  kubeletRoot: string;
  kubeletCertDir: string;
  kubeletConfig: string;
  podLogsDir: string;
  resolvConf: string;
  kubeProxyConfig: string;
  images: string;
}

/** Unix socket paths longer than this do not fit in sockaddr_un (108 bytes with the terminating NUL). */
export const maxSocketPath = 107 - ".ttrpc".length;

export function nodeLayout(dir: string): NodeLayout {
  const root = path.join(dir, "node");
  return {
    root,
    containerdConfig: path.join(root, "containerd.toml"),
    containerdRoot: path.join(root, "containerd", "root"),
    containerdState: path.join(root, "containerd", "state"),
    containerdSocket: path.join(root, "containerd.sock"),
    runcRoot: path.join(root, "containerd", "runc"),
    cniConfDir: path.join(root, "cni", "net.d"),
    cniDataDir: path.join(root, "cni", "ipam"),
    kubeletRoot: path.join(root, "kubelet"),
    kubeletCertDir: path.join(root, "kubelet-pki"),
    kubeletConfig: path.join(root, "kubelet.yaml"),
    podLogsDir: path.join(root, "pod-logs"),
    resolvConf: path.join(root, "resolv.conf"),
    kubeProxyConfig: path.join(root, "kube-proxy.yaml"),
    images: path.join(root, "images"),
  };
}

/** The cgroup (below each v1 hierarchy, or the v2 root) that holds a slot's pods. */
export function cgroupRoot(n: NodeNetwork): string {
  return `/mooring-${n.slot}`;
}

const toml = (s: string) => JSON.stringify(s);

export function containerdConfig(l: NodeLayout): string {
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  return `# containerd of a mooring local node: its own root, state and sockets, so several nodes run side by side.
version = 2
root = ${toml(l.containerdRoot)}
state = ${toml(l.containerdState)}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${toml(l.containerdSocket)}

[ttrpc]
  address = ${toml(`${l.containerdSocket}.ttrpc`)}

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ${toml(path.join(l.containerdRoot, "opt"))}
  [${cri}]
    sandbox_image = ${toml(pauseImage)}
    # Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj; asking for it fails every sandbox.
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    [${cri}.containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [${cri}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [${cri}.containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = ${toml(l.runcRoot)}
    [${cri}.cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = ${toml(l.cniConfDir)}
      max_conf_num = 1
`;
}

/** The pod network: a bridge inside the node's namespace; routes to Services and the host only. */
export function cniConflist(l: NodeLayout, n: NodeNetwork): string {
  return (
    JSON.stringify(
      {
        cniVersion: "1.0.0",
        name: "mooring",
        plugins: [
          {
            type: "bridge",
            bridge: n.bridge,
            isGateway: true,
            isDefaultGateway: false,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: "host-local",
              dataDir: l.cniDataDir,
              ranges: [[{ subnet: n.podCidr, gateway: n.podGateway }]],
              // No default route: pods reach Services and the host, nothing else.
              routes: [{ dst: n.serviceCidr }, { dst: `${n.hostAddress}/32` }],
            },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ) + "\n"
  );
}

export function kubeletConfig(l: NodeLayout, n: NodeNetwork, caFile: string): string {
  const config = {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: n.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: 10248,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: caFile } },
    authorization: { mode: "Webhook" },
    containerRuntimeEndpoint: `unix://${l.containerdSocket}`,
    cgroupDriver: "cgroupfs",
    cgroupRoot: cgroupRoot(n),
    cgroupsPerQOS: true,
    failCgroupV1: false,
    failSwapOn: false,
    clusterDomain,
    clusterDNS: [n.dnsIp],
    // An empty resolv.conf: pods with dnsPolicy Default get no upstream resolver.
    resolvConf: l.resolvConf,
    podLogsDir: l.podLogsDir,
    serializeImagePulls: false,
    // Images cannot be pulled again: never collect them, and never evict for a busy disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { "memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%" },
    maxPods: 110,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    registerNode: true,
    nodeStatusReportFrequency: "1m",
  };
  return JSON.stringify(config, null, 2) + "\n";
}

export function kubeletArgs(l: NodeLayout, n: NodeNetwork, kubeconfig: string): string[] {
  return [
    `--config=${l.kubeletConfig}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${l.kubeletRoot}`,
    `--cert-dir=${l.kubeletCertDir}`,
    `--hostname-override=${realNodeName}`,
    `--node-ip=${n.nodeIp}`,
    "--node-labels=type=real",
    "--v=1",
  ];
}

export function kubeProxyConfig(n: NodeNetwork, kubeconfig: string): string {
  const config = {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    clientConnection: { kubeconfig },
    mode: "iptables",
    clusterCIDR: n.podCidr,
    hostnameOverride: realNodeName,
    healthzBindAddress: "127.0.0.1:10256",
    metricsBindAddress: "127.0.0.1:10249",
    nodePortAddresses: [`${n.nodeIp}/32`],
    // Machine-wide conntrack sysctls are not this node's to change.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    iptables: { masqueradeAll: false, syncPeriod: "30s", minSyncPeriod: "0s" },
  };
  return JSON.stringify(config, null, 2) + "\n";
}

export function kubeProxyArgs(l: NodeLayout): string[] {
  return [`--config=${l.kubeProxyConfig}`, "--v=1"];
}

/** CoreDNS serving cluster names only (no forward plugin): the objects kubeadm's setup creates. */
export function corednsObjects(n: NodeNetwork): Record<string, unknown>[] {
  const ns = "kube-system";
  const labels = { "k8s-app": "kube-dns" };
  const corefile = `.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loop
    reload
    loadbalance
}
`;
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "coredns", namespace: ns } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "system:coredns" },
      rules: [
        { apiGroups: [""], resources: ["endpoints", "services", "pods", "namespaces"], verbs: ["list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "system:coredns" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:coredns" },
      subjects: [{ kind: "ServiceAccount", name: "coredns", namespace: ns }],
    },
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "coredns", namespace: ns }, data: { Corefile: corefile } },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "coredns", namespace: ns, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: "coredns",
            priorityClassName: "system-cluster-critical",
            dnsPolicy: "Default",
            tolerations: [{ key: "CriticalAddonsOnly", operator: "Exists" }],
            nodeSelector: { "kubernetes.io/os": "linux", type: "real" },
            containers: [
              {
                name: "coredns",
                image: corednsImage,
                imagePullPolicy: "Never",
                args: ["-conf", "/etc/coredns/Corefile"],
                ports: [
                  { name: "dns", containerPort: 53, protocol: "UDP" },
                  { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                ],
                resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { memory: "170Mi" } },
                volumeMounts: [{ name: "config", mountPath: "/etc/coredns", readOnly: true }],
                livenessProbe: { httpGet: { path: "/health", port: 8080 }, initialDelaySeconds: 10, periodSeconds: 10 },
                readinessProbe: { httpGet: { path: "/ready", port: 8181 }, periodSeconds: 1 },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] },
                },
              },
            ],
            volumes: [{ name: "config", configMap: { name: "coredns" } }],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "kube-dns", namespace: ns, labels: { ...labels, "kubernetes.io/name": "CoreDNS" } },
      spec: {
        selector: labels,
        clusterIP: n.dnsIp,
        ports: [
          { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
          { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
        ],
      },
    },
  ];
}
