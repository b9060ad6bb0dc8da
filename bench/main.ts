// `npm run bench -- <benchmark> [flags]`.
import { mttp } from "./mttp";

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  switch (name) {
    case "mttp":
      return mttp(rest);
    default:
      process.stderr.write("usage: npm run bench -- mttp [--n 100,500,1000] [--vs flux] (see bench/args.ts)\n");
      return 2;
  }
}
