// A small command-line flag set with Go pflag's grammar, as Flux's controller binaries accept it:
// `--name=value`, `--name value`, boolean `--name` / `--name=true|false`, `--` ends the flags.
// Pure: parsing never touches the process; errors name the flag and what it accepts.

/** How a flag's text value is read. */
export type FlagType = "bool" | "string" | "int" | "float" | "duration" | "list" | "map";

export interface FlagSpec {
  /** Long name without dashes, e.g. `watch-all-namespaces`. */
  name: string;
  type: FlagType;
  /** One line for `--help`. */
  usage: string;
  /** Default shown by `--help` (the caller applies defaults). */
  defaultText?: string;
  /** Other names that set the same flag, e.g. `leader-elect` for `enable-leader-election`. */
  aliases?: readonly string[];
  /** Section heading in `--help`; flags without one come first. */
  group?: string;
}

export class FlagError extends Error {
  override readonly name = "FlagError";
}

/** The flags given on a command line: canonical name → raw text (booleans as "true"/"false"). */
export interface ParsedFlags {
  /** Raw values by canonical name; a flag given twice keeps the last value, as pflag does. */
  values: Map<string, string>;
  /** Which name was used on the command line for each canonical flag (for messages). */
  spelledAs: Map<string, string>;
  positionals: string[];
  help: boolean;
}

const trueWords = new Set(["1", "t", "T", "true", "TRUE", "True"]);
const falseWords = new Set(["0", "f", "F", "false", "FALSE", "False"]);

/** Go's strconv.ParseBool, which pflag uses for boolean flags. */
export function parseBool(text: string): boolean | undefined {
  if (trueWords.has(text)) return true;
  if (falseWords.has(text)) return false;
  return undefined;
}

function index(specs: readonly FlagSpec[]): Map<string, FlagSpec> {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    for (const n of [s.name, ...(s.aliases ?? [])]) {
      if (byName.has(n)) throw new Error(`flag --${n} is declared twice`);
      byName.set(n, s);
    }
  }
  return byName;
}

/** Nearest declared names, for "did you mean" in unknown-flag errors. */
function suggestions(name: string, byName: Map<string, FlagSpec>): string[] {
  const parts = name.split("-").filter((p) => p.length > 2);
  return [...byName.keys()].filter((k) => k !== name && (k.includes(name) || name.includes(k) || parts.some((p) => k.includes(p)))).slice(0, 3);
}

/** Reads argv against the declared flags. Unknown flags, missing values and bad booleans throw a FlagError. */
export function parseFlagSet(argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byName = index(specs);
  const values = new Map<string, string>();
  const spelledAs = new Map<string, string>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "--") {
      if (arg.startsWith("-") && arg.length > 1) throw new FlagError(`unknown shorthand flag "${arg}": flags are long, e.g. --${arg.replace(/^-+/, "")}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = byName.get(name);
    if (!spec) {
      const near = suggestions(name, byName);
      throw new FlagError(`unknown flag: --${name}${near.length ? ` (did you mean ${near.map((n) => `--${n}`).join(", ")}?)` : ""}; --help lists every flag`);
    }
    let text: string;
    if (eq >= 0) {
      text = arg.slice(eq + 1);
    } else if (spec.type === "bool") {
      text = "true";
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: --${name}`);
      text = next;
      i++;
    }
    if (spec.type === "bool") {
      const b = parseBool(text);
      if (b === undefined) throw new FlagError(`invalid argument "${text}" for --${name}: must be true or false`);
      text = String(b);
    }
    values.set(spec.name, text);
    spelledAs.set(spec.name, name);
  }
  return { values, spelledAs, positionals, help };
}

const typeHint: Record<FlagType, string> = {
  bool: "",
  string: " string",
  int: " int",
  float: " float",
  duration: " duration",
  list: " strings",
  map: " k=v,…",
};

/** `--help` text: every flag with its type, usage, default and aliases, grouped. */
export function flagUsage(specs: readonly FlagSpec[]): string {
  const groups = new Map<string, FlagSpec[]>();
  for (const s of specs) {
    const g = s.group ?? "";
    groups.set(g, [...(groups.get(g) ?? []), s]);
  }
  const lines: string[] = [];
  for (const [group, members] of groups) {
    if (group) lines.push("", `${group}:`);
    const heads = members.map((s) => `  --${s.name}${typeHint[s.type]}`);
    const width = Math.min(48, Math.max(...heads.map((h) => h.length)) + 2);
    members.forEach((s, i) => {
      const extras = [s.defaultText !== undefined ? `default ${s.defaultText}` : "", s.aliases?.length ? `alias ${s.aliases.map((a) => `--${a}`).join(", ")}` : ""].filter(Boolean);
      const head = heads[i]!;
      const pad = head.length + 1 > width ? `\n${" ".repeat(width)}` : " ".repeat(width - head.length);
      lines.push(`${head}${pad}${s.usage}${extras.length ? ` (${extras.join("; ")})` : ""}`);
    });
  }
  return `${lines.join("\n").replace(/^\n/, "")}\n`;
}
