// `npm run bench -- mttp` flags. Pure, so it can be tested.
import type { SystemName } from "./table";

export interface MttpArgs {
  ns: number[];
  systems: SystemName[];
  /** Run drift-revert and commit→applied latency (on the smallest N). */
  latency: boolean;
  /** Directory for results (JSON + markdown). */
  out: string;
  /** Write CPU profiles of Mooring's controllers here. */
  profileDir?: string;
  /** Per-run deadline in seconds. */
  timeoutSeconds: number;
}

export const usage = `usage: npm run bench -- mttp [--n 100,500,1000] [--vs flux] [--systems mooring,mooring-alert,flux,flux-tuned,floor-gitops,floor]
                             [--no-latency] [--out bench/results] [--profile DIR] [--timeout SECONDS]`;

const allSystems: SystemName[] = ["floor", "floor-gitops", "mooring", "mooring-alert", "flux", "flux-tuned"];

export function parseMttpArgs(argv: readonly string[], defaults: { out: string }): MttpArgs {
  const a: MttpArgs = { ns: [100], systems: ["floor", "mooring"], latency: true, out: defaults.out, timeoutSeconds: 900 };
  let systemsGiven = false;
  let vsFlux = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value\n${usage}`);
      return v;
    };
    switch (flag) {
      case "--n":
        a.ns = value().split(",").map((s) => {
          const n = Number(s.trim());
          if (!Number.isInteger(n) || n < 1 || n > 5000) throw new Error(`--n: "${s}" is not an integer within 1..5000`);
          return n;
        });
        break;
      case "--vs":
        if (value() !== "flux") throw new Error(`--vs: only "flux" is known\n${usage}`);
        vsFlux = true;
        break;
      case "--systems":
        a.systems = value().split(",").map((s) => {
          if (!(allSystems as string[]).includes(s.trim())) throw new Error(`--systems: unknown system "${s}" (known: ${allSystems.join(", ")})`);
          return s.trim() as SystemName;
        });
        systemsGiven = true;
        break;
      case "--no-latency":
        a.latency = false;
        break;
      case "--out":
        a.out = value();
        break;
      case "--profile":
        a.profileDir = value();
        break;
      case "--timeout": {
        const t = Number(value());
        if (!(t > 0)) throw new Error("--timeout must be a positive number of seconds");
        a.timeoutSeconds = t;
        break;
      }
      default:
        throw new Error(`unknown flag "${flag}"\n${usage}`);
    }
  }
  if (vsFlux && !systemsGiven) a.systems = allSystems.filter((s) => s !== "mooring-alert");
  a.ns = [...new Set(a.ns)].sort((x, y) => x - y);
  // Given systems run in the order given (e.g. to see whether going first or second matters); otherwise in the
  // order of allSystems.
  a.systems = systemsGiven ? [...new Set(a.systems)] : allSystems.filter((s) => a.systems.includes(s));
  return a;
}
