// Free TCP ports on 127.0.0.1. A port is free when we can bind it; the process that gets it binds it a
// moment later, so callers retry start-up when a component reports the address in use.
import * as net from "node:net";

/** Ports handed out by this process recently: never hand the same one out twice while it is being bound. */
const handedOut = new Set<number>();

function bindable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      const addr = server.address();
      const got = typeof addr === "object" && addr ? addr.port : undefined;
      server.close(() => resolve(got));
    });
  });
}

/** True when 127.0.0.1:port can be bound right now. */
export async function portFree(port: number): Promise<boolean> {
  return (await bindable(port)) === port;
}

/** A port the kernel reports free, never one this process already handed out. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await bindable(0);
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("cannot find a free TCP port on 127.0.0.1");
}

/** The preferred port when it is free (a restart keeps its URLs), else a new free one. */
export async function preferPort(preferred: number | undefined): Promise<number> {
  if (preferred && !handedOut.has(preferred) && (await portFree(preferred))) {
    handedOut.add(preferred);
    return preferred;
  }
  return freePort();
}

/** Forget ports once their owners have bound them (or given up). */
export function releasePorts(ports: number[]): void {
  for (const p of ports) handedOut.delete(p);
}

/** Matches a component's log line that says its listen address was taken. */
export const addressInUse = /address already in use/i;
