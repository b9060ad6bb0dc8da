// The controller runtime's public surface.
export * from "./kube";
export * from "./informer";
export * from "./queue";
export * from "./conditions";
export * from "./errors";
export * from "./events";
export * from "./fluxevents";
export * from "./metrics";
export * from "./status";
export * from "./session";
export * from "./controller";
export * from "./builder";
export * from "./manager";
export * from "./leader";
export * from "./log";
export { TokenBucket } from "./ratelimit";
export { poll, backoffDelay } from "../api/wait";
export { parseAddr, listen } from "./http";
