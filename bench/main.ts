// `npm run bench -- <benchmark> [flags]`.
import { mttp } from "./mttp";
import { webhook } from "./webhook";
import { artifactGenerator } from "./artifactgenerator";

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  switch (name) {
    case "mttp":
      return mttp(rest);
    case "webhook":
      return webhook(rest);
    case "artifactgenerator":
      return artifactGenerator(rest);
    default:
      process.stderr.write("usage: npm run bench -- mttp [--n 100,500,1000] [--vs flux] (see bench/args.ts)\n       npm run bench -- webhook --dir <cluster dir> [--commits 20]\n       npm run bench -- artifactgenerator [--files 10000]\n");
      return 2;
  }
}
