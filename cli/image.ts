// `mooring image build`: the controllers image (or the demo app's) as an OCI image archive, built offline.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { checkFlags, parseArgs, stringFlag } from "./args";
import { defaultControllersRef, defaultDemoAppRef, ensureControllersImage, ensureDemoAppImage } from "../local/image";
import { fmtMiB, fmtSeconds } from "../local/imagecache";

const usage = "usage: mooring image build [--demo-app] [--tag TAG] [--out DIR]   (mooring image --help)\n";

const progress = (line: string) => process.stderr.write(`mooring image: ${line}\n`);

/** Tags as the OCI distribution spec allows them. */
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export async function imageCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb !== "build") {
      process.stderr.write(`mooring image: unknown action ${verb === undefined ? "(none)" : `"${verb}"`}\n${usage}`);
      return 2;
    }
    const args = parseArgs(rest, ["demo-app"]);
    checkFlags(args, ["demo-app", "tag", "out"]);
    if (args.positionals.length) throw new Error(`unexpected argument "${args.positionals[0]}"`);
    const tag = stringFlag(args, "tag");
    if (tag !== undefined && !tagPattern.test(tag)) throw new Error(`--tag "${tag}" is not a valid image tag (letters, digits, _ . -; at most 128)`);
    const demo = args.flags.get("demo-app") === true;
    const started = Date.now();
    const image = demo
      ? await ensureDemoAppImage({ ref: defaultDemoAppRef(tag), progress })
      : await ensureControllersImage({ ref: defaultControllersRef(tag), progress });
    const size = (await fs.stat(image.archive)).size;
    progress(`${image.built ? "built" : "up to date"} in ${fmtSeconds(Date.now() - started)}: ${image.ref}, ${fmtMiB(size)}`);
    let archive = image.archive;
    const out = stringFlag(args, "out");
    if (out !== undefined) {
      const dir = path.resolve(process.cwd(), out);
      await fs.mkdir(dir, { recursive: true });
      const name = image.ref.slice(image.ref.lastIndexOf("/") + 1).replace(":", "-");
      archive = path.join(dir, `${name}.oci.tar`);
      await fs.copyFile(image.archive, archive);
    }
    process.stdout.write(`${image.ref}\t${archive}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`mooring image: ${(err as Error).message}\n`);
    return 1;
  }
}
