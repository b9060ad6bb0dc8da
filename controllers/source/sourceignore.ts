// Builds the ignore matcher for a checked-out tree: Flux's defaults, then every .sourceignore (scoped to its
// directory, parents before children), then .spec.ignore.
import * as fs from "node:fs";
import * as path from "node:path";
import { defaultMatcher, parsePatterns, sourceIgnoreFile, type IgnoreMatcher } from "./ignore";

export async function buildMatcher(root: string, specIgnore?: string): Promise<IgnoreMatcher> {
  let matcher = defaultMatcher();
  const walk = async (rel: string): Promise<void> => {
    const dir = path.join(root, rel);
    const file = path.join(dir, sourceIgnoreFile);
    if (fs.existsSync(file)) matcher = matcher.with(parsePatterns(await fs.promises.readFile(file, "utf8"), rel));
    const entries = (await fs.promises.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && e.name !== ".git").map((e) => e.name).sort();
    for (const name of entries) {
      const child = rel ? `${rel}/${name}` : name;
      if (!matcher.ignores(child, true)) await walk(child);
    }
  };
  await walk("");
  if (specIgnore) matcher = matcher.with(parsePatterns(specIgnore));
  return matcher;
}
