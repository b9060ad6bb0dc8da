// What commit-status providers share: the commit of an event's revision, the status id and description as
// Flux makes them (id "<kind>/<name>/<first part of the Provider UID>", lowercase; description the reason in
// words), and the repository named by a provider address.
import { MetaRevisionKey } from "../../api/notification";
import type { Notification } from "./types";

/** The commit SHA in a revision: "main@sha1:<sha>", "sha1:<sha>", "main/<sha>" or a bare SHA. */
export function commitOf(revision: string | undefined): string | undefined {
  if (!revision) return undefined;
  const m = /(?:^|[@:/])([0-9a-f]{40}|[0-9a-f]{64})$/.exec(revision);
  return m?.[1];
}

/** The id of the commit status: the Provider's commitStatusExpr's, else Flux's default. */
export function commitStatusId(n: Notification, uidPrefix: string): string {
  if (n.commitStatusId) return n.commitStatusId;
  const o = n.event.involvedObject;
  return `${o.kind}/${o.name}/${uidPrefix}`.toLowerCase();
}

/** "ReconciliationSucceeded" → "reconciliation succeeded". */
export function commitStatusDescription(n: Notification): string {
  return n.event.reason.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

export interface RepositoryAddress {
  /** scheme://host[:port] of the server. */
  origin: string;
  /** The path of the repository without leading slash and ".git", e.g. "org/app" or "group/sub/app". */
  path: string;
}

/** Parses https://host/owner/repo(.git) (or ssh://git@host/owner/repo); the path must have two parts at least. */
export function repositoryAddress(address: string, type: string): RepositoryAddress {
  let u: URL;
  try {
    u = new URL(address);
  } catch {
    throw new Error(`the ${type} provider's address must be the repository's URL, e.g. https://host/owner/repository`);
  }
  const path = u.pathname.replace(/^\/+/, "").replace(/\/+$/, "").replace(/\.git$/, "");
  if (path.split("/").filter(Boolean).length < 2) throw new Error(`the ${type} provider's address must name a repository: https://host/owner/repository`);
  return { origin: `${u.protocol === "ssh:" ? "https:" : u.protocol}//${u.host}`, path };
}

/** The commit of a notification, or undefined when it carries none (commit-status providers skip it). */
export const commitOfNotification = (n: Notification): string | undefined => commitOf(n.metadata[MetaRevisionKey]);
