// CPU profiles of the control plane for the benchmarks: the apiserver serves /debug/pprof when the control
// plane was started with `profiling: true`.
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { toolPath } from "../local/tools";

/** A CPU profile of the apiserver over its first `seconds` of the run (`go tool pprof <file>`); failures are logged. */
export async function profileApiserver(kubeconfig: string, file: string, seconds: number, log: (line: string) => void): Promise<void> {
  const kubectl = await toolPath("kubectl");
  await new Promise<void>((resolve) =>
    execFile(kubectl, [`--kubeconfig=${kubeconfig}`, "get", "--raw", `/debug/pprof/profile?seconds=${seconds}`], { encoding: "buffer", maxBuffer: 256 << 20, timeout: (seconds + 60) * 1000 }, (err, stdout) => {
      if (err) {
        log(`apiserver profile: ${err.message.split("\n")[0]}`);
        return resolve();
      }
      fs.mkdir(path.dirname(file), { recursive: true })
        .then(() => fs.writeFile(file, stdout))
        .then(() => log(`apiserver profile: ${file}`), (e: unknown) => log(`apiserver profile: ${(e as Error).message}`))
        .finally(resolve);
    }),
  );
}

