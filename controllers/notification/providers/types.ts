// What a provider module gets: the event, the metadata it may show, and the Provider's resolved settings.
import type { FluxEvent } from "../../runtime/fluxevents";
import type { RequestSettings } from "./http";

export interface Notification {
  event: FluxEvent;
  /** The event's metadata without the group prefix, plus the Alert's eventMetadata and summary. */
  metadata: Record<string, string>;
  /** The commit-status id the Provider's commitStatusExpr made; unset, the default id is used. */
  commitStatusId?: string;
}

export interface ProviderConfig {
  type: string;
  /** The Provider's address (the Secret's 'address' wins over spec.address). */
  address: string;
  channel?: string;
  username?: string;
  /** The Secret's 'token'. */
  token?: string;
  /** The Secret's 'password' (basic auth with username). */
  password?: string;
  /** The Secret's 'headers' (YAML map), sent with every request. */
  headers: Record<string, string>;
  /** The first segment of the Provider's UID: part of a commit status id, as Flux makes it. */
  uidPrefix: string;
  request: RequestSettings;
}

/** Sends one notification; rejects with an error whose message names no address and no token. */
export type Sender = (n: Notification, p: ProviderConfig) => Promise<void>;

export interface ProviderModule {
  type: string;
  /** True for providers that set commit statuses. */
  commitStatus?: boolean;
  /** False when the address may be empty (e.g. the GitHub API base is derived); default true. */
  needsAddress?: boolean;
  send: Sender;
}

/** "Kustomization/apps.flux-system", the object line Flux's chat messages start with. */
export const objectLine = (n: Notification): string => `${n.event.involvedObject.kind}/${n.event.involvedObject.name}.${n.event.involvedObject.namespace}`;

/** Metadata in a stable order (by key). */
export const sortedMetadata = (m: Record<string, string>): [string, string][] => Object.entries(m).sort(([a], [b]) => a.localeCompare(b));

/** Metadata worth showing in a message: everything but the commit-status marker and any token. */
export function shownMetadata(m: Record<string, string>): [string, string][] {
  return sortedMetadata(m).filter(([k]) => k !== "commit_status" && k !== "token");
}
