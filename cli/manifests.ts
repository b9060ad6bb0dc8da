// `mooring manifests`: prints install manifests as YAML (`--crds` for the CRDs, `--rbac NS` for the
// source- and kustomize-controller's ServiceAccounts and RBAC).
import { stringify } from "yaml";
import { checkFlags, parseArgs, stringFlag } from "./args";
import { crds, kustomizeControllerRbac, sourceControllerRbac } from "../controllers/api";

export async function manifestsCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["crds"]);
  checkFlags(args, ["crds", "rbac"]);
  const docs: unknown[] = [];
  if (args.flags.get("crds") === true) docs.push(...crds());
  const rbacNs = stringFlag(args, "rbac");
  if (rbacNs) docs.push(...sourceControllerRbac(rbacNs), ...kustomizeControllerRbac(rbacNs));
  if (docs.length === 0) {
    process.stderr.write("usage: mooring manifests --crds [--rbac NAMESPACE]\n");
    return 2;
  }
  process.stdout.write(docs.map((d) => "---\n" + stringify(d, { lineWidth: 0 })).join(""));
  return 0;
}
