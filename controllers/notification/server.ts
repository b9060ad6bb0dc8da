// The two HTTP endpoints of the notification-controller: events in (Flux's controllers POST their events to
// --events-addr, ":9090") and webhooks in (--receiverAddr, ":9292", paths /hook/<sha256>). Bodies are read
// with a size limit; whatever arrives, the server answers and keeps serving.
import * as http from "node:http";
import type { Logger } from "pino";
import type { FluxEvent } from "../runtime/fluxevents";
import { errorMessage } from "../runtime/errors";
import { DuplicateWindow, EventValidationError, parseEvent, rateLimitKey } from "./event";

/** Flux caps a message at 39,000 characters; an event body is far below this. */
export const maxEventBodyBytes = 1 << 20;
/** Webhook payloads (GitHub's push payloads can be large) are accepted up to this. */
export const maxWebhookBodyBytes = 25 << 20;

export class BodyTooLargeError extends Error {}

/** Reads a request body up to limit bytes; rejects with BodyTooLargeError beyond it. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) {
      reject(new BodyTooLargeError(`body of ${declared} bytes is over the limit of ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(new BodyTooLargeError(`body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

/** Answers and, for a body left unread, closes the connection so the client stops sending. */
export function answer(req: http.IncomingMessage, res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return;
  const unread = !req.complete;
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...(unread ? { connection: "close" } : {}) }).end(text.endsWith("\n") ? text : `${text}\n`);
  if (unread) res.on("finish", () => req.destroy());
}

export interface EventsServerOptions {
  log: Logger;
  /** Queues the notifications of an accepted event. */
  dispatch: (e: FluxEvent) => Promise<unknown>;
  /** Duplicates of an event within this window are answered 429 and not sent (--rate-limit-interval). */
  rateLimitMs: number;
}

/** Handles one event: shared by the HTTP endpoint and a notification-controller in the same process. */
export function eventHandler(o: EventsServerOptions): (e: FluxEvent) => "accepted" | "duplicate" {
  const window = new DuplicateWindow(o.rateLimitMs);
  return (e) => {
    if (e.severity !== "trace" && window.seen(rateLimitKey(e))) return "duplicate";
    if (e.severity === "trace") return "accepted";
    o.dispatch(e).catch((err: unknown) => o.log.error({ err: errorMessage(err), reason: e.reason }, "could not dispatch event"));
    return "accepted";
  };
}

export function eventsServer(o: EventsServerOptions): http.Server {
  const handle = eventHandler(o);
  return http.createServer((req, res) => {
    if (req.method !== "POST") {
      answer(req, res, 405, "only POST is served here");
      return;
    }
    readBody(req, maxEventBodyBytes).then(
      (body) => {
        let event: FluxEvent;
        try {
          event = parseEvent(body);
        } catch (err) {
          if (!(err instanceof EventValidationError)) throw err;
          o.log.debug({ err: err.message }, "invalid event refused");
          answer(req, res, 400, `invalid event: ${err.message}`);
          return;
        }
        const outcome = handle(event);
        if (outcome === "duplicate") answer(req, res, 429, "duplicate event within the rate-limit interval");
        else answer(req, res, 202, "accepted");
      },
      (err: unknown) => answer(req, res, err instanceof BodyTooLargeError ? 413 : 400, errorMessage(err)),
    );
  });
}
