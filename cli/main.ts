// The `mooring` command.
import { toolsCommand } from "./tools";
import { localCommand } from "./local";
import { controllersCommand } from "./controllers";
import { manifestsCommand } from "./manifests";

const usage = `usage: mooring <command> [flags]

commands:
  tools [--check] [--path NAME]        resolve (build when missing) the pinned toolchain
  local up|down|status --dir DIR       run a real local Kubernetes control plane
  controllers --controllers LIST       run controllers in the foreground
  manifests [--crds]                   print the install manifests as YAML (full install without flags)
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "tools":
      return toolsCommand(rest);
    case "local":
      return localCommand(rest);
    case "controllers":
      return controllersCommand(rest);
    case "manifests":
      return manifestsCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(usage);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`mooring: unknown command "${command}"\n${usage}`);
      return 2;
  }
}
