// `mooring tools`: resolve or build the pinned toolchain.
import * as path from "node:path";
import { ensureTools, findTool, loadTools, toolNames, toolPath, treeSize } from "../local/tools";
import { checkFlags, parseArgs, stringFlag } from "./args";

export async function toolsCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["check", "all"]);
  checkFlags(args, ["check", "path", "all"]);
  const pathOf = stringFlag(args, "path");
  if (pathOf !== undefined) {
    process.stdout.write((await toolPath(pathOf)) + "\n");
    return 0;
  }
  if (args.flags.get("check") === true) {
    const missing: string[] = [];
    for (const t of toolNames()) {
      if (t.spec.onDemand && args.flags.get("all") !== true) continue;
      if (!(await findTool(t.name))) missing.push(`${t.name} ${t.spec.version}`);
    }
    if (missing.length) {
      process.stderr.write(`missing tools (run \`npx mooring tools\`):\n${missing.map((m) => "  " + m).join("\n")}\n`);
      return 1;
    }
    process.stdout.write("all pinned tools are present\n");
    return 0;
  }
  const only = args.positionals.length ? args.positionals : undefined;
  const resolved = await ensureTools({ only, all: args.flags.get("all") === true, progress: (line) => process.stderr.write(line + "\n") });
  const tools = loadTools();
  const rows = [["TOOL", "VERSION", "FROM", "CACHE", "PATH"]];
  for (const r of resolved) {
    const spec = tools.builds[r.build]!;
    const size = r.from === "PATH" ? "-" : `${Math.round((await treeSize(path.dirname(path.dirname(r.path)))) / (1 << 20))} MiB`;
    rows.push([r.name, spec.version, r.from, r.from === "PATH" ? "-" : size, r.path]);
  }
  process.stdout.write(table(rows));
  return 0;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}
