// Running the real Pulumi CLI against a local file backend: the language host and the dynamic-provider plugin
// on PATH, the pinned resource plugins installed into the workspace's PULUMI_HOME from the tools cache.
import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { findTool, loadTools, toolNames, toolPath, toolsPathEnv, type ToolsFile } from "./tools";

export interface PulumiWorkspace {
  /** Directory of the Pulumi program (holds Pulumi.yaml). */
  programDir: string;
  /** Directory holding the file backend's state and PULUMI_HOME. */
  stateDir: string;
  stack: string;
}

export interface PulumiResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class PulumiError extends Error {
  constructor(
    readonly args: string[],
    readonly result: PulumiResult,
  ) {
    const tail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-30).join("\n");
    super(`pulumi ${args.join(" ")} exited ${result.code}:\n${tail}`);
    this.name = "PulumiError";
  }
}

/** Environment for the pulumi CLI: file backend, private PULUMI_HOME, no update checks, no plugin downloads. */
export async function pulumiEnv(ws: PulumiWorkspace, extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const base = await toolsPathEnv();
  return {
    ...base,
    PULUMI_HOME: path.join(ws.stateDir, "home"),
    PULUMI_BACKEND_URL: `file://${path.join(ws.stateDir, "backend")}`,
    PULUMI_CONFIG_PASSPHRASE: base.PULUMI_CONFIG_PASSPHRASE ?? "",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    ...extra,
  };
}

/** Run one pulumi command; resolves with its output, rejects with a PulumiError naming the command. */
export async function pulumi(ws: PulumiWorkspace, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<PulumiResult> {
  const bin = await toolPath("pulumi");
  const env = await pulumiEnv(ws, opts.env);
  const result = await new Promise<PulumiResult>((resolve, reject) => {
    const child = spawn(bin, ["--non-interactive", ...args], { cwd: ws.programDir, env, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGTERM"), opts.timeoutMs ?? 300_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
  if (result.code !== 0) throw new PulumiError(args, result);
  return result;
}

export interface ResourcePlugin {
  /** Plugin name as programs ask for it, e.g. "kubernetes". */
  name: string;
  /** Tool (binary) name, pulumi-resource-<name>. */
  tool: string;
  /** Version the binary reports and the SDK asks for. */
  version: string;
}

/** The pinned resource provider plugins: every tool named pulumi-resource-<name>. */
export function pinnedResourcePlugins(tools: ToolsFile = loadTools()): ResourcePlugin[] {
  return toolNames(tools)
    .filter((t) => t.name.startsWith("pulumi-resource-"))
    .map((t) => ({ name: t.name.slice("pulumi-resource-".length), tool: t.name, version: t.spec.version }));
}

/** Directory of one plugin in a PULUMI_HOME, as the engine's plugin cache lays it out. */
export function pluginDir(home: string, plugin: ResourcePlugin): string {
  return path.join(home, "plugins", `resource-${plugin.name}-v${plugin.version}`);
}

/**
 * Install the pinned resource plugins found in the tools cache into the workspace's PULUMI_HOME with
 * `pulumi plugin install --file`, so the engine finds the exact version a program asks for with automatic
 * acquisition disabled. A plugin not built yet is left out; a program that needs it then fails naming it.
 */
export async function installPinnedPlugins(ws: PulumiWorkspace): Promise<ResourcePlugin[]> {
  const installed: ResourcePlugin[] = [];
  for (const plugin of pinnedResourcePlugins()) {
    const found = await findTool(plugin.tool);
    if (!found) continue;
    const dir = pluginDir(path.join(ws.stateDir, "home"), plugin);
    const present = await fs
      .stat(path.join(dir, plugin.tool))
      .then((st) => st.isFile())
      .catch(() => false);
    if (!present) await pulumi(ws, ["plugin", "install", "resource", plugin.name, plugin.version, "--file", found.path]);
    installed.push(plugin);
  }
  return installed;
}

/** Create the backend directory, install the pinned resource plugins and select (or create) the stack. */
export async function prepareStack(ws: PulumiWorkspace): Promise<void> {
  await fs.mkdir(path.join(ws.stateDir, "backend"), { recursive: true });
  await fs.mkdir(path.join(ws.stateDir, "home"), { recursive: true });
  await installPinnedPlugins(ws);
  await pulumi(ws, ["stack", "select", ws.stack, "--create"]);
}

/** Set one stack config value; a secret goes through stdin, never argv (process listings, error messages). */
export async function setConfig(ws: PulumiWorkspace, key: string, value: string, secret = false): Promise<void> {
  if (secret) await pulumi(ws, ["config", "set", "--secret", "--", key], { input: value });
  else await pulumi(ws, ["config", "set", "--", key, value]);
}

export async function stackOutputs(ws: PulumiWorkspace): Promise<Record<string, unknown>> {
  const out = await pulumi(ws, ["stack", "output", "--json", "--show-secrets", "--stack", ws.stack]);
  return JSON.parse(out.stdout) as Record<string, unknown>;
}
