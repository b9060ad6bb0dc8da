// `mooring controllers`: runs the controllers in the foreground, with the same flags as the container
// image's entry (controllers/flags.ts). Outside the image, kustomize defaults to the pinned tool.
import { runControllersForeground } from "../controllers/main";
import { FlagError, controllersUsage, parseControllersArgs } from "../controllers/flags";
import { findTool } from "../local/tools";

/** `mooring controllers --help`: every flag, from the parser's own table. */
export function controllersHelp(): string {
  return controllersUsage();
}

export async function controllersCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseControllersArgs>;
  try {
    parsed = parseControllersArgs(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`mooring controllers: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(parsed.usage);
    return 0;
  }
  const o = parsed.options;
  const kustomizePath = o.kustomizePath ?? (o.controllers.includes("kustomize") ? (await findTool("kustomize"))?.path : undefined);
  await runControllersForeground({ ...o, kustomizePath });
  return 0;
}
