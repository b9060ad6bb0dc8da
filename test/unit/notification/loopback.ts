// A loopback HTTP server that records requests and answers with a fixed status, standing in for a provider's
// API (Slack, Teams, Discord, GitHub, GitLab, Gitea …) in the shapes their docs give.
import * as http from "node:http";

export interface Recorded {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: unknown;
}

export interface Loopback {
  url: string;
  requests: Recorded[];
  status: number;
  close(): Promise<void>;
}

export async function loopback(status = 200, answer = "{}"): Promise<Loopback> {
  const requests: Recorded[] = [];
  const lb: Loopback = { url: "", requests, status, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, text, json });
      res.writeHead(lb.status, { "content-type": "application/json" }).end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  lb.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  lb.close = () => new Promise((r) => server.close(() => r()));
  return lb;
}
