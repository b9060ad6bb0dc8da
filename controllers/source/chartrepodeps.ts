// Chart dependencies from chart repositories, as Flux resolves them for a chart built from a source: the
// HelmRepository of the chart's namespace that "@<name>" or "alias:<name>" names (Mooring's; Flux refuses
// aliases), else the one whose URL is the dependency's — its index artifact and credentials — else, as Flux does,
// the URL itself, read without credentials. OCI registries are refused with a clear message.
import type { KubeClient } from "../runtime/kube";
import { withDeadline } from "../runtime/abort";
import { parseDuration } from "../api/duration";
import type { HelmRepository } from "../api/source-helm";
import { displayUrl, helmGet, HelmHttpError } from "./helmhttp";
import { loadHelmAuth } from "./helmsecrets";
import { ChartNotFoundError, findChartVersion, IndexError, parseIndex, type HelmIndex } from "./helmindex";
import { ConstraintError } from "./helmsemver";
import { DependencyError, type ChartDependency } from "./chartdeps";

/** What resolving a dependency's repository needs from the reconciler. */
export interface DependencyRepositoryContext {
  /** The HelmChart's namespace. */
  namespace: string;
  client: KubeClient;
  signal: AbortSignal;
  /** A cached HelmRepository by "namespace/name". */
  helmRepository(key: string): HelmRepository | undefined;
  /** Every cached HelmRepository. */
  helmRepositories(): HelmRepository[];
  /** The parsed index artifact of a HelmRepository; undefined when storage has none. */
  storedIndex(repo: HelmRepository): HelmIndex | undefined;
  /** --helm-chart-max-size and --helm-index-max-size, in bytes. */
  chartMaxSize: number;
  indexMaxSize: number;
}

/** A repository URL as Flux compares them: one trailing slash. */
export function normalizeRepositoryUrl(url: string): string {
  return `${url.replace(/\/+$/, "")}/`;
}

/** The chart archive of a dependency whose repository is not local. */
export async function dependencyArchive(ctx: DependencyRepositoryContext, dep: ChartDependency): Promise<Buffer> {
  const ns = ctx.namespace;
  const ref = dep.repository ?? "";
  const alias = /^(?:@|alias:)(.+)$/.exec(ref)?.[1];
  let repo: HelmRepository | undefined;
  if (alias) {
    repo = ctx.helmRepository(`${ns}/${alias}`);
    if (!repo) throw new DependencyError(`no HelmRepository '${alias}' in namespace '${ns}' (repository '${ref}')`);
  } else if (/^https?:\/\//.test(ref)) {
    const wanted = normalizeRepositoryUrl(ref);
    repo = ctx.helmRepositories().find((r) => r.metadata.namespace === ns && r.spec.type !== "oci" && normalizeRepositoryUrl(r.spec.url) === wanted);
  } else if (ref.startsWith("oci://")) {
    throw new DependencyError(`repository '${displayUrl(ref)}' is an OCI registry: dependencies from OCI registries are not built; vendor the chart in charts/`);
  } else {
    throw new DependencyError(`invalid dependency repository URL '${ref.includes("://") ? displayUrl(ref) : ref}' (want http(s)://, file://, @<HelmRepository> or alias:<HelmRepository>)`);
  }
  if (repo?.spec.type === "oci") throw new DependencyError(`HelmRepository '${ns}/${repo.metadata.name}' is of type oci: dependencies from OCI registries are not built; vendor the chart in charts/`);
  const base = repo?.spec.url ?? ref;
  const baseUrl = base.endsWith("/") ? base : `${base}/`;
  return withDeadline(ctx.signal, parseDuration(repo?.spec.timeout ?? "60s"), async (signal) => {
    const auth = repo ? await loadHelmAuth(ctx.client, repo, signal) : {};
    const get = async (url: string, maxBytes: number, what: string, limitFlag: string) => {
      try {
        return await helmGet(url, { auth, repoOrigin: new URL(baseUrl).origin, passCredentials: repo?.spec.passCredentials, maxBytes, signal });
      } catch (err) {
        if (err instanceof HelmHttpError) throw new DependencyError(`${what}: ${err.message}${err.kind === "size" ? ` (${limitFlag})` : ""}`);
        throw err;
      }
    };
    let index: HelmIndex;
    if (repo) {
      const stored = ctx.storedIndex(repo);
      if (!stored) throw new DependencyError(`HelmRepository '${ns}/${repo.metadata.name}' has no index artifact yet`);
      index = stored;
    } else {
      try {
        index = parseIndex(await get(new URL("index.yaml", baseUrl).toString(), ctx.indexMaxSize, `failed to fetch the index of '${displayUrl(ref)}' (no HelmRepository in namespace '${ns}' has this URL)`, "--helm-index-max-size"));
      } catch (err) {
        if (err instanceof IndexError) throw new DependencyError(`failed to load the index of '${displayUrl(ref)}': ${err.message}`);
        throw err;
      }
    }
    let entry;
    try {
      entry = findChartVersion(index, dep.name, dep.version);
    } catch (err) {
      if (err instanceof ChartNotFoundError || err instanceof ConstraintError) throw new DependencyError(`failed to get chart '${dep.name}' version '${dep.version ?? "*"}' from '${displayUrl(ref)}': ${err.message}`);
      throw err;
    }
    const url = entry.urls?.[0];
    if (!url) throw new DependencyError(`chart '${dep.name}' version '${entry.version}' has no downloadable URLs`);
    const what = `chart download of version '${entry.version}' failed`;
    let target: string;
    try {
      target = new URL(url, baseUrl).toString();
    } catch {
      throw new DependencyError(`${what}: invalid chart URL '${displayUrl(url)}'`);
    }
    return get(target, ctx.chartMaxSize, what, "--helm-chart-max-size");
  });
}
