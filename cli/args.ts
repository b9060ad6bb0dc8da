// Minimal flag parsing shared by the subcommands: --flag value, --flag=value, --bool.
export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: string[], booleans: string[] = []): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    if (eq > 0) {
      flags.set(a.slice(2, eq), a.slice(eq + 1));
    } else if (booleans.includes(a.slice(2))) {
      flags.set(a.slice(2), true);
    } else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new Error(`flag ${a} needs a value`);
      flags.set(a.slice(2), value);
      i++;
    }
  }
  return { positionals, flags };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  if (v === true) throw new Error(`flag --${name} needs a value`);
  return v;
}

export function checkFlags(args: ParsedArgs, allowed: string[]): void {
  for (const k of args.flags.keys()) {
    if (!allowed.includes(k)) throw new Error(`unknown flag --${k} (allowed: ${allowed.map((a) => "--" + a).join(", ")})`);
  }
}
