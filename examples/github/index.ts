// Bootstrap a cluster from a GitHub repository (created when missing), with a read-only deploy key
// registered through the API (Flux's default) or, with readWith "https", the token in the cluster Secret.
//
//   pulumi config set kubeconfig ~/.kube/config
//   pulumi config set owner acme && pulumi config set repository fleet
//   pulumi config set --secret token ghp_…
//   pulumi config set path clusters/prod
//   pulumi up
//
// GitHub Enterprise: `pulumi config set baseUrl https://ghe.example.com/api/v3`. The e2e tests run this
// program against a loopback stand-in of GitHub's REST API (test/fixtures/github/server.ts).
import * as pulumi from "@pulumi/pulumi";
import { Bootstrap } from "mooring";

const config = new pulumi.Config();
const readWith = config.get("readWith") === "https" ? "https" : "ssh";

const fleet = new Bootstrap("github", {
  cluster: { kubeconfig: config.get("kubeconfig") ?? process.env.KUBECONFIG ?? `${process.env.HOME}/.kube/config` },
  github: {
    owner: config.require("owner"),
    repository: config.require("repository"),
    token: config.requireSecret("token"),
    baseUrl: config.get("baseUrl"),
    visibility: config.get("visibility") === "public" ? "public" : "private",
    branch: config.get("branch") ?? "main",
    path: config.get("path") ?? "clusters/prod",
    readWith,
    knownHosts: config.get("knownHosts"),
  },
  version: config.get("version"),
  interval: config.get("interval"),
  waitForReady: config.getBoolean("waitForReady") ?? true,
  timeout: config.get("timeout") ?? "5m",
});

export const repositoryUrl = fleet.repositoryUrl;
export const commit = fleet.commit;
export const publicKey = fleet.publicKey;
export const deployKeyFingerprint = fleet.deployKeyFingerprint;
export const ready = fleet.ready;
export const revision = fleet.revision;
export const inventoryCount = fleet.inventoryCount;
