// Durations live in controllers/api (api/duration.ts); this module re-exports them for existing importers.
export { parseDuration } from "../api/duration";
