// A generic-provider endpoint on an address pods reach: records the Flux events the notification-controller
// posts to it.
import * as http from "node:http";
import type { FluxEvent } from "../../controllers/runtime/fluxevents";

export interface NotificationSink {
  url: string;
  events: (FluxEvent & { metadata?: Record<string, string> })[];
  close(): Promise<void>;
}

export async function startNotificationSink(host: string): Promise<NotificationSink> {
  const events: FluxEvent[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        events.push(JSON.parse(Buffer.concat(chunks).toString()) as FluxEvent);
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    url: `http://${host}:${(server.address() as { port: number }).port}/`,
    events,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
