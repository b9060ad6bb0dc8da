// `mooring manifests`: prints install manifests as YAML. Without flags, the full install, like
// `flux install --export` (namespace, CRDs, RBAC, Deployments, Service, NetworkPolicies); `--crds` for
// the CRDs only, `--rbac NS` for the controllers' ServiceAccounts and RBAC.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { checkFlags, parseArgs, stringFlag } from "./args";
import { crds, helmControllerRbac, kustomizeControllerRbac, notificationControllerRbac, sourceControllerRbac, sourceWatcherRbac, imageReflectorControllerRbac, imageAutomationControllerRbac } from "../controllers/api";
import { renderInstallYaml, type ControllerName } from "../bootstrap";

const usage = `usage: mooring manifests [--namespace NS] [--version V] [--components source,kustomize,notification] [--network-policy=false]
       mooring manifests --crds [--rbac NAMESPACE]
`;

/** The CRDs and RBAC the controllers define, placed by the renderer (the same inputs the Bootstrap uses). */
function installInputs(namespace: string) {
  return {
    crds: crds(),
    rbac: {
      source: sourceControllerRbac(namespace),
      kustomize: kustomizeControllerRbac(namespace, { clusterAdmin: false }),
      helm: helmControllerRbac(namespace, { clusterAdmin: false }),
      notification: notificationControllerRbac(namespace),
      "source-watcher": sourceWatcherRbac(namespace),
      "image-reflector": imageReflectorControllerRbac(namespace),
      "image-automation": imageAutomationControllerRbac(namespace),
    },
  };
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

export async function manifestsCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["crds"]);
  checkFlags(args, ["crds", "rbac", "namespace", "version", "components", "network-policy"]);
  const rbacNs = stringFlag(args, "rbac");
  if (args.flags.get("crds") === true || rbacNs) {
    const docs: unknown[] = [];
    if (args.flags.get("crds") === true) docs.push(...crds());
    if (rbacNs) docs.push(...sourceControllerRbac(rbacNs), ...kustomizeControllerRbac(rbacNs), ...notificationControllerRbac(rbacNs));
    process.stdout.write(docs.map((d) => "---\n" + stringify(d, { lineWidth: 0 })).join(""));
    return 0;
  }
  const namespace = stringFlag(args, "namespace") ?? "flux-system";
  const components = stringFlag(args, "components")
    ?.split(",")
    .map((c) => c.trim().replace(/-controller$/, ""))
    .filter(Boolean);
  const networkPolicy = stringFlag(args, "network-policy");
  if (networkPolicy !== undefined && networkPolicy !== "true" && networkPolicy !== "false") {
    process.stderr.write(`--network-policy must be true or false\n${usage}`);
    return 2;
  }
  process.stdout.write(
    renderInstallYaml(installInputs(namespace), {
      version: (stringFlag(args, "version") ?? packageVersion()).replace(/^v/, ""),
      namespace,
      ...(components ? { controllers: components as ControllerName[] } : {}),
      networkPolicy: networkPolicy !== "false",
    }),
  );
  return 0;
}
