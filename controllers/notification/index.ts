// The notification-controller: events in (Alerts → Providers), webhooks in (Receivers), wired into a Manager.
// Alerts and Providers are static objects read from the informers' caches when an event arrives; Receivers
// are reconciled (status.webhookPath).
import type * as http from "node:http";
import type { Manager } from "../runtime/manager";
import { listen } from "../runtime/http";
import type { EventSink, FluxEvent } from "../runtime/fluxevents";
import { errorMessage } from "../runtime/errors";
import { AlertKind, ProviderKind, ReceiverKind, type Alert, type Provider, type Receiver } from "../api/notification";
import { Dispatcher } from "./dispatch";
import { eventHandler, eventsServer } from "./server";
import { ReceiverReconciler, webhookServer } from "./receiver";
import { GoogleIdTokens } from "./googleid";

export { Dispatcher } from "./dispatch";
export { eventsServer } from "./server";
export { webhookServer, requestReconciles, ReceiverReconciler } from "./receiver";
export { verifyWebhook, supportedReceiverTypes } from "./webhooks";
export { providerModules } from "./providers";
export { GoogleIdTokens, googleCertsUrl } from "./googleid";

export interface NotificationControllerOptions {
  /** Events listen address (Flux's --events-addr of the notification-controller, default ":9090"); "" serves none. */
  eventsAddr: string;
  /** Webhook listen address (--receiverAddr, default ":9292"); "" serves none. */
  receiverAddr: string;
  /** Duplicate events within this window are sent once (--rate-limit-interval, default 5m). */
  rateLimitMs?: number;
  noCrossNamespaceRefs?: boolean;
  concurrent?: number;
  /** Where gcr Receivers fetch Google's ID-token keys (JWKS); default Google's. */
  googleCertsUrl?: string;
}

export interface NotificationControllerHandle {
  /** Hands events of controllers in the same process straight to the dispatcher (no HTTP). */
  sink: EventSink;
  dispatcher: Dispatcher;
  /** Bound addresses, once listening (useful with port 0). */
  addresses: { events?: string; receiver?: string };
}

const webhookPathIndex = "webhookPath";
export const defaultRateLimitMs = 5 * 60_000;

export function addNotificationController(mgr: Manager, o: NotificationControllerOptions): NotificationControllerHandle {
  const alerts = mgr.informer<Alert>(AlertKind.resource);
  const providers = mgr.informer<Provider>(ProviderKind.resource);
  const log = mgr.log.child({ controller: "notification" });
  const dispatcher = new Dispatcher({
    client: mgr.client,
    log,
    alerts: () => alerts.listCached(),
    provider: (ns, name) => providers.get(`${ns}/${name}`),
    noCrossNamespaceRefs: o.noCrossNamespaceRefs,
  });
  const events = { log, dispatch: (e: FluxEvent) => dispatcher.dispatch(e), rateLimitMs: o.rateLimitMs ?? defaultRateLimitMs };
  const handle = eventHandler(events);

  const receivers = mgr.informer<Receiver>(ReceiverKind.resource);
  mgr
    .controller<Receiver>(ReceiverKind, { name: "receiver", concurrency: o.concurrent ?? 2 })
    .index(webhookPathIndex, (r) => (r.status?.webhookPath ? [r.status.webhookPath] : []))
    .complete(new ReceiverReconciler());

  const addresses: NotificationControllerHandle["addresses"] = {};
  const serve = (server: http.Server, addr: string, what: "events" | "receiver") =>
    mgr.addRunnable(async (signal) => {
      addresses[what] = await listen(server, addr);
      log.info({ addr: addresses[what] }, `${what === "events" ? "event" : "webhook receiver"} server listening`);
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (what === "events") await dispatcher.flush(5_000);
    });
  if (o.eventsAddr) serve(eventsServer(events), o.eventsAddr, "events");
  if (o.receiverAddr) {
    serve(
      webhookServer({
        client: mgr.client,
        log,
        noCrossNamespaceRefs: o.noCrossNamespaceRefs,
        google: new GoogleIdTokens({ certsUrl: o.googleCertsUrl }),
        byPath: (path) => {
          for (const key of receivers.byIndex(webhookPathIndex, path)) {
            const r = receivers.get(key);
            if (r) return r;
          }
          return undefined;
        },
      }),
      o.receiverAddr,
      "receiver",
    );
  }
  const sink: EventSink = {
    post: (e) => {
      try {
        handle(e);
      } catch (err) {
        log.error({ err: errorMessage(err) }, "could not dispatch event");
      }
    },
    flush: (ms) => dispatcher.flush(ms),
  };
  return { sink, dispatcher, addresses };
}

