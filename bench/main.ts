// `npm run bench -- <benchmark> [flags]`.
import { mttp } from "./mttp";
import { webhook } from "./webhook";
import { image } from "./image";

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  switch (name) {
    case "mttp":
      return mttp(rest);
    case "webhook":
      return webhook(rest);
    case "image":
      return image(rest);
    default:
      process.stderr.write("usage: npm run bench -- mttp [--n 100,500,1000] [--vs flux] (see bench/args.ts)\n       npm run bench -- webhook --dir <cluster dir> [--commits 20]\n       npm run bench -- image --dir <cluster dir> [--samples 10] [--tags 5000]\n");
      return 2;
  }
}
