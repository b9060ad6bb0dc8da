// `npm run bench -- <benchmark> [flags]`.
import { mttp } from "./mttp";
import { webhook } from "./webhook";

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  switch (name) {
    case "mttp":
      return mttp(rest);
    case "webhook":
      return webhook(rest);
    default:
      process.stderr.write("usage: npm run bench -- mttp [--n 100,500,1000] [--vs flux] (see bench/args.ts)\n       npm run bench -- webhook --dir <cluster dir> [--commits 20]\n");
      return 2;
  }
}
