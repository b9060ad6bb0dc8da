// The controller runtime's public surface.
export * from "./kube";
export * from "./informer";
export * from "./queue";
export * from "./conditions";
export * from "./errors";
export * from "./events";
export * from "./metrics";
export * from "./status";
export * from "./controller";
export * from "./manager";
export * from "./leader";
export * from "./log";
export { parseAddr, listen } from "./http";
