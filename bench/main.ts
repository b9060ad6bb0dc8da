// `npm run bench -- <benchmark> [flags]`.
import { mttp } from "./mttp";
import { webhook } from "./webhook";
import { helmBench } from "./helm";
import { bucket } from "./bucket";
import { image } from "./image";
import { artifactGenerator } from "./artifactgenerator";

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  switch (name) {
    case "mttp":
      return mttp(rest);
    case "webhook":
      return webhook(rest);
    case "helm":
      return helmBench(rest);
    case "bucket":
      return bucket(rest);
    case "image":
      return image(rest);
    case "artifactgenerator":
      return artifactGenerator(rest);
    default:
      process.stderr.write(
        [
          "usage: npm run bench -- mttp [--n 100,500,1000] [--vs flux] (see bench/args.ts)",
          "       npm run bench -- webhook [--systems pods,mooring,flux] [--dir <cluster dir>] [--commits 20]",
          "       npm run bench -- helm [--n 100,500,1000] [--vs flux]",
          "       npm run bench -- bucket [--objects 1000] [--runs 5] [--dir <cluster dir>]",
          "       npm run bench -- image --dir <cluster dir> [--samples 10] [--tags 5000]",
          "       npm run bench -- artifactgenerator [--files 10000]",
        ].join("\n") + "\n",
      );
      return 2;
  }
}
