// ssh's ProxyCommand for Git over SSH behind a proxy: `node proxycommand.js HOST PORT` opens a tunnel through
// the proxy named by MOORING_GIT_PROXY (http://, https:// with CONNECT, or socks5:// / socks5h://, each with
// optional user:password@) and joins it to stdin/stdout. Errors go to stderr without the proxy's credentials.
import * as net from "node:net";
import * as tls from "node:tls";

export class ProxyError extends Error {}

/** Opens a TCP connection to host:port through the proxy; resolves with the connected socket. */
export async function openTunnel(proxyUrl: string, host: string, port: number, timeoutMs = 15_000): Promise<net.Socket> {
  let proxy: URL;
  try {
    proxy = new URL(proxyUrl);
  } catch {
    throw new ProxyError("proxy address is not a URL");
  }
  const scheme = proxy.protocol.replace(/:$/, "");
  const defaultPort = scheme === "https" ? 443 : scheme === "http" ? 80 : 1080;
  const proxyPort = Number(proxy.port || defaultPort);
  const where = `${proxy.hostname}:${proxyPort}`;
  const socket: net.Socket =
    scheme === "https" ? tls.connect({ host: proxy.hostname, port: proxyPort, servername: net.isIP(proxy.hostname) ? undefined : proxy.hostname }) : net.connect({ host: proxy.hostname, port: proxyPort });
  socket.setTimeout(timeoutMs, () => socket.destroy(new ProxyError(`proxy ${where} did not answer within ${timeoutMs} ms`)));
  await new Promise<void>((resolve, reject) => {
    socket.once(scheme === "https" ? "secureConnect" : "connect", resolve);
    socket.once("error", (e) => reject(new ProxyError(`cannot connect to proxy ${where}: ${e.message}`)));
  });
  const user = decodeURIComponent(proxy.username);
  const pass = decodeURIComponent(proxy.password);
  if (scheme === "http" || scheme === "https") await httpConnect(socket, host, port, user, pass, where);
  else if (scheme === "socks5" || scheme === "socks5h") await socks5Connect(socket, host, port, user, pass, where);
  else {
    socket.destroy();
    throw new ProxyError(`proxy scheme '${scheme}' is not supported (http, https, socks5)`);
  }
  socket.setTimeout(0);
  return socket;
}

/** Reads from the socket until `done` says the collected bytes are a complete answer. */
function readUntil(socket: net.Socket, done: (buf: Buffer) => number, where: string): Promise<{ head: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length > 65536) return finish(new ProxyError(`proxy ${where} sent an oversized answer`));
      const n = done(buf);
      if (n > 0) finish(undefined, n);
    };
    const onEnd = () => finish(new ProxyError(`proxy ${where} closed the connection`));
    const onError = (e: Error) => finish(new ProxyError(`proxy ${where}: ${e.message}`));
    const finish = (err?: Error, n = 0) => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      if (err) return reject(err);
      resolve({ head: buf.subarray(0, n), rest: buf.subarray(n) });
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onError);
  });
}

async function httpConnect(socket: net.Socket, host: string, port: number, user: string, pass: string, where: string): Promise<void> {
  const target = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  const auth = user || pass ? `Proxy-Authorization: Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}\r\n` : "";
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
  const { head, rest } = await readUntil(socket, (b) => (b.indexOf("\r\n\r\n") >= 0 ? b.indexOf("\r\n\r\n") + 4 : 0), where);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString("latin1"));
  if (!status || status[1] !== "200") {
    socket.destroy();
    const code = status?.[1] ?? "no HTTP status";
    throw new ProxyError(code === "407" ? `proxy ${where} refused the credentials (HTTP 407)` : `proxy ${where} refused CONNECT to ${target} (${code})`);
  }
  if (rest.length) socket.unshift(rest);
}

async function socks5Connect(socket: net.Socket, host: string, port: number, user: string, pass: string, where: string): Promise<void> {
  const withAuth = Boolean(user || pass);
  socket.write(Buffer.from(withAuth ? [5, 2, 0, 2] : [5, 1, 0]));
  const hello = (await readUntil(socket, (b) => (b.length >= 2 ? 2 : 0), where)).head;
  if (hello[0] !== 5) throw new ProxyError(`proxy ${where} is not a SOCKS5 proxy`);
  if (hello[1] === 2) {
    const u = Buffer.from(user);
    const p = Buffer.from(pass);
    socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    const ok = (await readUntil(socket, (b) => (b.length >= 2 ? 2 : 0), where)).head;
    if (ok[1] !== 0) throw new ProxyError(`proxy ${where} refused the credentials`);
  } else if (hello[1] !== 0) {
    throw new ProxyError(`proxy ${where} accepts none of the offered authentication methods`);
  }
  const ip = net.isIP(host);
  const addr =
    ip === 4
      ? Buffer.from([1, ...host.split(".").map(Number)])
      : Buffer.concat([Buffer.from([3, Buffer.byteLength(host)]), Buffer.from(host)]);
  const portBuf = Buffer.from([port >> 8, port & 0xff]);
  socket.write(Buffer.concat([Buffer.from([5, 1, 0]), addr, portBuf]));
  const reply = await readUntil(
    socket,
    (b) => {
      if (b.length < 5) return 0;
      const len = b[3] === 1 ? 4 : b[3] === 4 ? 16 : 1 + b[4]!;
      return b.length >= 4 + len + 2 ? 4 + len + 2 : 0;
    },
    where,
  );
  if (reply.head[1] !== 0) {
    socket.destroy();
    throw new ProxyError(`proxy ${where} could not connect to ${host}:${port} (SOCKS5 reply ${reply.head[1]})`);
  }
  if (reply.rest.length) socket.unshift(reply.rest);
}

async function main(): Promise<void> {
  const [host, port] = process.argv.slice(2);
  const proxy = process.env.MOORING_GIT_PROXY;
  if (!host || !port || !proxy) {
    process.stderr.write("usage: MOORING_GIT_PROXY=URL proxycommand HOST PORT\n");
    process.exit(2);
  }
  try {
    const socket = await openTunnel(proxy, host, Number(port));
    process.stdin.pipe(socket);
    socket.pipe(process.stdout);
    socket.on("close", () => process.exit(0));
    socket.on("error", () => process.exit(1));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

if (require.main === module) void main();
