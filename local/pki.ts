// The control plane's PKI: one CA per directory, leaf certificates signed by it (openssl CLI), and the
// service-account signing key (node:crypto). ECDSA P-256 keys keep generation in milliseconds.
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";

export interface CertPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: CertPair;
  apiserver: CertPair;
  /** Client certificates, by identity. */
  admin: CertPair;
  controllerManager: CertPair;
  scheduler: CertPair;
  kwok: CertPair;
  kubelet: CertPair;
  kubeProxy: CertPair;
  /** The apiserver's client certificate towards kubelets (logs, exec, port-forward). */
  apiserverKubeletClient: CertPair;
  /** The service-account token signing key pair (private key for the apiserver and controller-manager). */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

export interface ClientIdentity {
  /** Certificate common name: the Kubernetes user name. */
  cn: string;
  /** Organizations: the Kubernetes groups. */
  groups: string[];
}

/** The identities the control plane's own components use; names the RBAC bootstrap policy binds. */
export const identities = {
  admin: { cn: "mooring-admin", groups: ["system:masters"] },
  controllerManager: { cn: "system:kube-controller-manager", groups: [] },
  scheduler: { cn: "system:kube-scheduler", groups: [] },
  // kwok plays every kubelet (node and pod status); the Node authorizer would confine it to one node.
  kwok: { cn: "mooring-kwok", groups: ["system:masters"] },
  // The Node authorizer and NodeRestriction confine the kubelet to its own Node and pods.
  kubelet: { cn: "system:node:mooring-node", groups: ["system:nodes"] },
  kubeProxy: { cn: "system:kube-proxy", groups: [] },
  apiserverKubeletClient: { cn: "kube-apiserver-kubelet-client", groups: ["system:masters"] },
} satisfies Record<string, ClientIdentity>;

/** Subject alternative names of the apiserver's serving certificate. */
export function apiserverSans(serviceIp: string, extraIps: string[] = []): string[] {
  const dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"];
  return [...dns.map((d) => `DNS:${d}`), "IP:127.0.0.1", `IP:${serviceIp}`, ...extraIps.map((ip) => `IP:${ip}`)];
}

/** An openssl `-subj` for an identity: groups become O=, the user CN=. Values must not need escaping. */
export function subject(id: ClientIdentity): string {
  for (const v of [id.cn, ...id.groups]) {
    if (/[/=+,\\]/.test(v)) throw new Error(`certificate subject value ${JSON.stringify(v)} needs escaping`);
  }
  return [...id.groups.map((g) => `/O=${g}`), `/CN=${id.cn}`].join("");
}

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "the openssl CLI is not on PATH" : stderr.trim() || err.message;
      reject(new Error(`openssl ${args[0]} failed: ${why}`));
    });
  });
}

const days = "3650";
const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

async function issue(ca: CertPair, out: CertPair, subj: string, extensions: string[]): Promise<void> {
  if ((await exists(out.cert)) && (await exists(out.key))) return;
  const ext = extensions.flatMap((e) => ["-addext", e]);
  await openssl(["req", "-x509", "-CA", ca.cert, "-CAkey", ca.key, ...ecKey, "-keyout", out.key, "-out", out.cert, "-days", days, "-subj", subj, ...ext]);
}

function pair(dir: string, name: string): CertPair {
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/**
 * Create what is missing of DIR/pki (an existing CA and certificates are kept, so restarts reuse them). The
 * apiserver's serving certificate is issued anew when its addresses (serviceIp, extraIps) change.
 */
export async function ensurePki(dir: string, serviceIp: string, extraIps: string[] = []): Promise<Pki> {
  const pkiDir = path.join(dir, "pki");
  await fs.mkdir(pkiDir, { recursive: true, mode: 0o700 });
  const pki: Pki = {
    dir: pkiDir,
    ca: pair(pkiDir, "ca"),
    apiserver: pair(pkiDir, "apiserver"),
    admin: pair(pkiDir, "admin"),
    controllerManager: pair(pkiDir, "controller-manager"),
    scheduler: pair(pkiDir, "scheduler"),
    kwok: pair(pkiDir, "kwok"),
    kubelet: pair(pkiDir, "kubelet"),
    kubeProxy: pair(pkiDir, "kube-proxy"),
    apiserverKubeletClient: pair(pkiDir, "apiserver-kubelet-client"),
    serviceAccountKey: path.join(pkiDir, "sa.key"),
    serviceAccountPub: path.join(pkiDir, "sa.pub"),
  };
  if (!((await exists(pki.ca.cert)) && (await exists(pki.ca.key)))) {
    // A new CA invalidates every certificate signed by the old one.
    for (const p of [pki.apiserver, pki.admin, pki.controllerManager, pki.scheduler, pki.kwok, pki.kubelet, pki.kubeProxy, pki.apiserverKubeletClient]) {
      await fs.rm(p.cert, { force: true });
    }
    await openssl(["req", "-x509", ...ecKey, "-keyout", pki.ca.key, "-out", pki.ca.cert, "-days", days, "-subj", "/CN=mooring-local-ca",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"]);
  }
  const leaf = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"];
  const client = [...leaf, "extendedKeyUsage=clientAuth"];
  const sans = apiserverSans(serviceIp, extraIps).join(",");
  const sansFile = path.join(pkiDir, "apiserver.sans");
  if ((await fs.readFile(sansFile, "utf8").catch(() => "")) !== sans) {
    await fs.rm(pki.apiserver.cert, { force: true });
    await fs.writeFile(sansFile, sans);
  }
  await Promise.all([
    issue(pki.ca, pki.apiserver, "/CN=kube-apiserver", [...leaf, "extendedKeyUsage=serverAuth", `subjectAltName=${sans}`]),
    issue(pki.ca, pki.admin, subject(identities.admin), client),
    issue(pki.ca, pki.controllerManager, subject(identities.controllerManager), client),
    issue(pki.ca, pki.scheduler, subject(identities.scheduler), client),
    issue(pki.ca, pki.kwok, subject(identities.kwok), client),
    issue(pki.ca, pki.kubelet, subject(identities.kubelet), client),
    issue(pki.ca, pki.kubeProxy, subject(identities.kubeProxy), client),
    issue(pki.ca, pki.apiserverKubeletClient, subject(identities.apiserverKubeletClient), client),
  ]);
  if (!((await exists(pki.serviceAccountKey)) && (await exists(pki.serviceAccountPub)))) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", {
      namedCurve: "prime256v1",
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    await fs.writeFile(pki.serviceAccountKey, privateKey, { mode: 0o600 });
    await fs.writeFile(pki.serviceAccountPub, publicKey);
  }
  return pki;
}
