// Structured JSON logs (pino). Controllers log with child loggers carrying controller/object fields.
import pino, { type Logger } from "pino";

export type { Logger };

export function newLogger(level = "info", destination?: pino.DestinationStream): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination(1));
}
