// The `mooring` command. Each command's module is loaded when it runs: a controller process does not carry
// the toolchain, control-plane and manifest code.

const usage = `usage: mooring <command> [flags]     (mooring <command> --help for its flags)

commands:
  tools [--check] [--path NAME]        resolve (build when missing) the pinned toolchain
  local up|down|status --dir DIR       run a real local Kubernetes control plane
  controllers --controllers LIST       run controllers in the foreground
  manifests [--crds]                   print the install manifests as YAML (full install without flags)
  image build [--demo-app]             build the controllers (or demo app) image offline as an OCI archive
`;

interface Command {
  run(argv: string[]): Promise<number>;
  /** Usage text; a function when the command builds it from its own flag table. */
  help: string | (() => Promise<string>);
}

const commands: Record<string, Command> = {
  tools: {
    run: async (argv) => (await import("./tools.js")).toolsCommand(argv),
    help: `usage: mooring tools [--check] [--path NAME]
  (no flags)     resolve every pinned tool, building what is missing; print tool, version, from, cache size, path
  --check        exit 0 only when every pinned tool is present at its version, else list what is missing
  --path NAME    print the absolute path of one tool's binary
`,
  },
  local: {
    run: async (argv) => (await import("./local.js")).localCommand(argv),
    help: `usage:
  mooring local up --dir DIR [--nodes N]   start (or reuse) a control plane; prints export KUBECONFIG=...
  mooring local down --dir DIR [--keep]    stop it; --keep keeps data, PKI and logs for a later up
  mooring local status --dir DIR           show its processes and /readyz
`,
  },
  controllers: {
    run: async (argv) => (await import("./controllers.js")).controllersCommand(argv),
    help: async () => (await import("./controllers.js")).controllersHelp(),
  },
  manifests: {
    run: async (argv) => (await import("./manifests.js")).manifestsCommand(argv),
    help: `usage: mooring manifests [flags]
  (no flags)                    the full install (like flux install --export)
  --crds                        only the CustomResourceDefinitions
  --rbac NS                     only the controllers' RBAC for namespace NS
  --namespace NS  --version V  --components LIST  --network-policy true|false
`,
  },
  image: {
    run: async (argv) => (await import("./image.js")).imageCommand(argv),
    help: `usage: mooring image build [--demo-app] [--tag TAG] [--out DIR]
  (no flags)     build the controllers image; prints its reference and the path of its OCI archive
  --demo-app     build the example fleet's demo app image instead
  --tag TAG      tag of the reference (default: the one the install renders, v<version>; demo app: its version)
  --out DIR      also copy the archive to DIR/<name>-<tag>.oci.tar
`,
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(usage);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`mooring: unknown command "${name}"\n${usage}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(typeof command.help === "string" ? command.help : await command.help());
    return 0;
  }
  return command.run(rest);
}
