// Bootstrap the local control plane (`mooring local up`) from a local git host: the program
// `npm run demo` runs, and the root Pulumi.yaml's program.
//
//   pulumi config set kubeconfig /path/to/kubeconfig
//   pulumi config set gitUrl http://127.0.0.1:PORT/fleet.git
//   pulumi config set --secret gitPassword …          (when the git host asks for basic auth)
//   pulumi config set --secret gitPrivateKey "$(cat id_ed25519)"   (ssh URLs: the key that pushes)
//   pulumi config set gitKnownHosts "$(ssh-keyscan -p PORT HOST)" (ssh URLs; default: scanned)
//   pulumi config set replicas '{"kustomize": 2}'         (optional: a standby kustomize-controller)
//   pulumi up
import * as pulumi from "@pulumi/pulumi";
import { Bootstrap } from "mooring";

const config = new pulumi.Config();

const fleet = new Bootstrap("local", {
  cluster: { kubeconfig: config.get("kubeconfig") ?? process.env.KUBECONFIG ?? ".mooring/demo/kubeconfig" },
  git: {
    url: config.require("gitUrl"),
    branch: config.get("branch") ?? "main",
    path: config.get("path") ?? "clusters/local",
    author: { name: "Mooring Demo", email: "demo@mooring.invalid" },
    credentials: {
      username: config.get("gitUsername"),
      password: config.getSecret("gitPassword"),
      privateKey: config.getSecret("gitPrivateKey"),
      knownHosts: config.get("gitKnownHosts"),
    },
  },
  version: config.get("version"),
  replicas: config.getObject<Record<string, number>>("replicas"),
  interval: config.get("interval") ?? "1m0s",
  waitForReady: config.getBoolean("waitForReady") ?? true,
  timeout: config.get("timeout") ?? "5m",
});

export const repositoryUrl = fleet.repositoryUrl;
export const commit = fleet.commit;
export const ready = fleet.ready;
export const revision = fleet.revision;
export const inventoryCount = fleet.inventoryCount;
export const conditions = fleet.conditions;
export const publicKey = fleet.publicKey;
export const deployKeyFingerprint = fleet.deployKeyFingerprint;
