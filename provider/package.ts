// The package's own name and version, from its package.json (two directories above dist/provider/): the
// dynamic providers load their implementations by this name, and the install records this version.
import { readFileSync } from "node:fs";
import * as path from "node:path";

interface PackageJson {
  name?: string;
  version?: string;
}

function readPackageJson(): PackageJson {
  try {
    return JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as PackageJson;
  } catch {
    return {};
  }
}

const pkg = readPackageJson();

export const packageName = pkg.name ?? "mooring";
export const packageVersion = pkg.version ?? "0.1.0";
