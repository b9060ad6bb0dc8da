// Git credentials and how they reach git without touching argv, .git/config, logs or messages:
// https via an Authorization header in GIT_CONFIG_* environment variables, ssh via GIT_SSH_COMMAND
// with a temporary identity file and known_hosts.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type GitCredentials =
  /** Anonymous, or whatever the environment already provides. */
  | { kind: "none" }
  /** https basic auth; for a token use it as password (GitHub: username `x-access-token` or `git`). */
  | { kind: "basic"; username: string; password: string }
  /** ssh deploy key (OpenSSH private key). known_hosts pins the host; without it the first key seen is accepted. */
  | { kind: "ssh"; privateKey: string; knownHosts?: string };

/** Remove userinfo from http(s) URLs anywhere in a text, and every given secret. */
export function scrub(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/\b(https?:\/\/)[^\s/@]*@/gi, "$1");
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join("***");
  }
  return out;
}

/** The URL with any embedded http(s) userinfo removed, safe to show. */
export function scrubUrl(url: string): string {
  return scrub(url);
}

/**
 * Split `https://user:token@host/repo.git` into a clean URL and basic credentials, so the secret
 * travels the same way as explicitly given credentials. Explicit credentials win.
 */
export function splitUrlCredentials(url: string, credentials: GitCredentials | undefined): { url: string; credentials: GitCredentials } {
  let parsed: URL | undefined;
  try {
    parsed = /^https?:\/\//i.test(url) ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (!parsed.username && !parsed.password)) return { url, credentials: credentials ?? { kind: "none" } };
  const embedded: GitCredentials = { kind: "basic", username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.toString(), credentials: credentials && credentials.kind !== "none" ? credentials : embedded };
}

export interface GitAuthEnvironment {
  env: Record<string, string>;
  /** Strings that must never appear in output shown to anyone. */
  secrets: string[];
  /** Removes temporary key material. */
  dispose(): Promise<void>;
}

function quoteForShell(path: string): string {
  return `'${path.replace(/'/g, "'\\''")}'`;
}

/** Environment for git commands that authenticates with the credentials. Call dispose() when done. */
export async function gitAuthEnvironment(credentials: GitCredentials): Promise<GitAuthEnvironment> {
  switch (credentials.kind) {
    case "none":
      return { env: {}, secrets: [], dispose: async () => {} };
    case "basic": {
      const encoded = Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
      return {
        env: { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "http.extraHeader", GIT_CONFIG_VALUE_0: `Authorization: Basic ${encoded}` },
        secrets: [credentials.password, encoded],
        dispose: async () => {},
      };
    }
    case "ssh": {
      const dir = await mkdtemp(join(tmpdir(), "mooring-ssh-"));
      const identity = join(dir, "identity");
      const knownHosts = join(dir, "known_hosts");
      await writeFile(identity, credentials.privateKey.endsWith("\n") ? credentials.privateKey : `${credentials.privateKey}\n`, { mode: 0o600 });
      await writeFile(knownHosts, credentials.knownHosts ?? "", { mode: 0o600 });
      const options = [
        `-i ${quoteForShell(identity)}`,
        "-o IdentitiesOnly=yes",
        "-o BatchMode=yes",
        `-o UserKnownHostsFile=${quoteForShell(knownHosts)}`,
        `-o StrictHostKeyChecking=${credentials.knownHosts ? "yes" : "accept-new"}`,
      ];
      return {
        env: { GIT_SSH_COMMAND: `ssh ${options.join(" ")}`, GIT_SSH_VARIANT: "ssh" },
        secrets: [credentials.privateKey.trim()],
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    }
  }
}
