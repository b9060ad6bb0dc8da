// known_hosts for a git host: taken as given, or scanned with ssh-keyscan.
import { execFile } from "node:child_process";
import { BootstrapError } from "../errors";

export interface KnownHostsOptions {
  /** Host name or address of the SSH server. */
  host: string;
  /** SSH port. Default 22. */
  port?: number;
  /** known_hosts content the user vouches for; when given nothing is scanned. */
  knownHosts?: string;
  /** ssh-keyscan timeout in seconds. Default 10. */
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** The host as known_hosts names it: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The non-comment lines of known_hosts content; throws when a line is not `<hosts> <type> <key>`. */
export function parseKnownHosts(content: string): string[] {
  const lines = content.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  for (const line of lines) {
    const fields = line.split(/\s+/);
    const [hosts, type, key] = fields[0]?.startsWith("@") ? fields.slice(1) : fields;
    if (!hosts || !type || !key || !/^(ssh-|ecdsa-|sk-)/.test(type) || !/^[A-Za-z0-9+/]+=*$/.test(key)) {
      throw new BootstrapError("InvalidInput", `ssh: known_hosts line is not "<hosts> <key-type> <base64-key>": ${line.slice(0, 80)}`);
    }
  }
  return lines;
}

/** known_hosts content for the host: the given content (validated), or what ssh-keyscan reports. */
export async function resolveKnownHosts(options: KnownHostsOptions): Promise<string> {
  if (options.knownHosts !== undefined) {
    const lines = parseKnownHosts(options.knownHosts);
    if (lines.length === 0) throw new BootstrapError("InvalidInput", `ssh: known_hosts given for ${options.host} is empty`);
    return `${lines.join("\n")}\n`;
  }
  const port = options.port ?? 22;
  const timeout = options.timeoutSeconds ?? 10;
  const target = knownHostsName(options.host, port);
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      "ssh-keyscan",
      ["-p", String(port), "-T", String(timeout), "-t", "ed25519,ecdsa,rsa", options.host],
      { timeout: (timeout + 5) * 1000, signal: options.signal },
      (err, stdout, stderr) => {
        if (err && !stdout) {
          reject(new BootstrapError("KnownHostsFailed", `ssh: ssh-keyscan of ${target} failed: ${(stderr || err.message).trim().split("\n").pop()}`));
        } else resolve(stdout);
      },
    );
  });
  const lines = parseKnownHosts(output);
  if (lines.length === 0) {
    throw new BootstrapError("KnownHostsFailed", `ssh: ssh-keyscan found no host keys at ${target}; is an SSH server listening there? Pass knownHosts to skip scanning.`);
  }
  return `${lines.sort().join("\n")}\n`;
}
