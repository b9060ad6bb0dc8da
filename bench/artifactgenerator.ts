// ArtifactGenerator over a 10,000-file monorepo: the generator's build path as the source-watcher runs it —
// download the source artifact over HTTP from a real artifact server (digest verified), unpack it, apply the
// copy rules, archive and store each output — timed per scenario, with the process's peak RSS.
// `npm run bench -- artifactgenerator [--files 10000] [--out bench/results]`.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listen } from "../controllers/runtime/http";
import { Storage } from "../controllers/source/storage";
import { IgnoreMatcher } from "../controllers/source/ignore";
import { writeArchive } from "../controllers/source/tarball";
import { downloadArtifact, extractArtifact } from "../controllers/kustomize/artifact";
import { ArtifactStager } from "../controllers/sourcewatcher/copy";
import type { OutputArtifact } from "../controllers/api/source-extensions";

interface Scenario {
  name: string;
  artifacts: OutputArtifact[];
}

interface Result {
  scenario: string;
  artifacts: number;
  filesStaged: number;
  downloadAndUnpackMs: number;
  stageAndArchiveMs: number;
  totalMs: number;
  peakRssMiB: number;
}

const flag = (argv: string[], name: string, def: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};

function writeMonorepo(root: string, files: number, perApp: number): void {
  for (let i = 0; i < files; i++) {
    const app = `app-${String(Math.floor(i / perApp)).padStart(3, "0")}`;
    const dir = path.join(root, "apps", app, i % 2 ? "base" : "overlays/prod");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `cm-${i}.yaml`), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${app}-cm-${i}\ndata:\n  index: "${i}"\n  payload: "${"x".repeat(200)}"\n`);
  }
}

export async function artifactGenerator(argv: string[]): Promise<number> {
  const files = Number(flag(argv, "files", "10000"));
  const perApp = 100;
  const apps = Math.ceil(files / perApp);
  const outDir = flag(argv, "out", path.join("bench", "results"));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-bench-ag-"));
  const storage = new Storage(path.join(work, "storage"), "pending");
  fs.mkdirSync(storage.root, { recursive: true });
  const server = storage.server();
  const addr = await listen(server, "127.0.0.1:0");
  const served = new Storage(storage.root, addr);
  try {
    const repo = path.join(work, "repo");
    writeMonorepo(repo, files, perApp);
    await fs.promises.mkdir(served.localPath("gitrepository/bench/mono"), { recursive: true });
    const { digest, size } = await writeArchive(repo, new IgnoreMatcher(), served.localPath("gitrepository/bench/mono/source.tar.gz"));
    const url = served.url("gitrepository/bench/mono/source.tar.gz");
    const scenarios: Scenario[] = [
      { name: `compose: the whole repository into one artifact (${files} files)`, artifacts: [{ name: "all", copy: [{ from: "@repo/apps/**", to: "@artifact/" }] }] },
      {
        name: `split: one artifact per app (${apps} artifacts of ${perApp} files)`,
        artifacts: Array.from({ length: apps }, (_, i) => ({ name: `app-${String(i).padStart(3, "0")}`, copy: [{ from: `@repo/apps/app-${String(i).padStart(3, "0")}/**`, to: "@artifact/" }] })),
      },
      { name: "pick: one app's prod overlay by glob", artifacts: [{ name: "one", copy: [{ from: "@repo/apps/app-007/overlays/prod/*.yaml", to: "@artifact/prod/" }] }] },
    ];
    const results: Result[] = [];
    for (const sc of scenarios) {
      const scratch = fs.mkdtempSync(path.join(work, "run-"));
      const t0 = performance.now();
      const tgz = await downloadArtifact(url, digest, AbortSignal.timeout(300_000));
      const tree = path.join(scratch, "src");
      fs.mkdirSync(tree);
      await extractArtifact(tgz, tree);
      const t1 = performance.now();
      let filesStaged = 0;
      for (const out of sc.artifacts) {
        const staging = path.join(scratch, "out", out.name);
        fs.mkdirSync(staging, { recursive: true });
        await new ArtifactStager(new Map([["repo", tree]]), staging).applyAll(out.copy);
        const dir = served.objectDir("ExternalArtifact", "bench", out.name);
        const temp = await served.tempFile(dir);
        const r = await writeArchive(staging, new IgnoreMatcher(), temp);
        await served.commit(temp, `${dir}/${r.digest.slice(7)}.tar.gz`);
        filesStaged += fs.readdirSync(staging, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
      }
      const t2 = performance.now();
      results.push({
        scenario: sc.name,
        artifacts: sc.artifacts.length,
        filesStaged,
        downloadAndUnpackMs: Math.round(t1 - t0),
        stageAndArchiveMs: Math.round(t2 - t1),
        totalMs: Math.round(t2 - t0),
        peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      });
      process.stdout.write(`${JSON.stringify(results.at(-1))}\n`);
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    const date = new Date().toISOString().slice(0, 10);
    const report = { benchmark: "artifactgenerator", date, files, sourceTarballBytes: size, node: process.version, cpus: os.cpus().length, results };
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, `${date}-artifactgenerator.json`), `${JSON.stringify(report, null, 2)}\n`);
    const rows = results.map((r) => `| ${r.scenario} | ${r.artifacts} | ${r.filesStaged} | ${(r.downloadAndUnpackMs / 1000).toFixed(2)} | ${(r.stageAndArchiveMs / 1000).toFixed(2)} | ${(r.totalMs / 1000).toFixed(2)} | ${r.peakRssMiB} |`);
    fs.writeFileSync(
      path.join(outDir, `${date}-artifactgenerator.md`),
      [
        `# ArtifactGenerator over a ${files}-file monorepo (${date})`,
        "",
        `\`npm run bench -- artifactgenerator --files ${files}\` on ${os.cpus().length} shared cores, Node.js ${process.version}. The source is a`,
        `${(size / 1048576).toFixed(1)} MiB tarball served by the artifact server over loopback HTTP; each scenario downloads it (digest verified),`,
        "unpacks it, applies the copy rules and archives and stores every output, as one generator reconcile does (the",
        "apiserver writes of the ExternalArtifacts are not included). Peak RSS is the benchmark process's, which only grows.",
        "",
        "| scenario | artifacts | files staged | download + unpack (s) | stage + archive (s) | total (s) | peak RSS (MiB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        ...rows,
        "",
      ].join("\n"),
    );
    return 0;
  } finally {
    server.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  artifactGenerator(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
