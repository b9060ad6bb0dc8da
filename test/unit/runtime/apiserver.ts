// A loopback HTTP server that speaks the small part of the Kubernetes REST protocol the runtime uses, for two
// namespaced kinds: list (with labelSelector), watch (held open, events as objects change), get, status PUT
// and merge PATCH with resourceVersion preconditions (409 on a stale one), and Events. Tests change objects
// through it as another client would, and read the requests it saw.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject, ResourceRef } from "../../../controllers/runtime/kube";

export const Widgets: ResourceRef = { kind: "Widget", group: "test.mooring.dev", version: "v1", plural: "widgets", namespaced: true };
export const Gadgets: ResourceRef = { kind: "Gadget", group: "test.mooring.dev", version: "v1", plural: "gadgets", namespaced: true };
export const WidgetKind = { resource: Widgets };
export const GadgetKind = { resource: Gadgets };

export interface TestObject extends KubeObject {
  spec: { suspend?: boolean; source?: string; interval?: string; [k: string]: unknown };
  status?: { conditions?: { type: string; status: "True" | "False" | "Unknown"; reason: string; message: string; lastTransitionTime: string; observedGeneration?: number }[]; observedGeneration?: number; lastHandledReconcileAt?: string; [k: string]: unknown };
}

interface Watcher {
  plural: string;
  selector?: string;
  res: http.ServerResponse;
}

/** Kubernetes label selector matching for the forms tests use: "k=v", "k!=v", "k", "!k", comma-separated. */
export function matchesSelector(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  return selector.split(",").every((term) => {
    const t = term.trim();
    if (t.startsWith("!")) return !(t.slice(1) in l);
    const ne = /^([^!=]+)!=(.*)$/.exec(t);
    if (ne) return l[ne[1]!] !== ne[2];
    const eq = /^([^=]+)==?(.*)$/.exec(t);
    if (eq) return l[eq[1]!] === eq[2];
    return t in l;
  });
}

export class TestApiServer {
  readonly requests: string[] = [];
  /** Status writes answered 409 before the next one succeeds (as if another writer got there first). */
  statusConflicts = 0;
  private readonly objects = new Map<string, Map<string, TestObject>>([
    ["widgets", new Map()],
    ["gadgets", new Map()],
  ]);
  private readonly watchers = new Set<Watcher>();
  /** Every change, so a watch from a resourceVersion gets what happened since (as the apiserver's watch cache). */
  private readonly history: { plural: string; type: string; rv: number; json: string; labels?: Record<string, string> }[] = [];
  private rv = 100;
  private server!: http.Server;
  url = "";

  static async start(): Promise<TestApiServer> {
    const s = new TestApiServer();
    s.server = http.createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", r));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: "c", server: this.url, skipTLSVerify: true }], users: [{ name: "u" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
    return kc;
  }

  close(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  get(plural: string, ns: string, name: string): TestObject | undefined {
    const o = this.objects.get(plural)!.get(`${ns}/${name}`);
    return o && structuredClone(o);
  }

  /** Creates or replaces an object as another client would (generation moves with the spec). */
  put(plural: string, obj: Omit<TestObject, "apiVersion" | "kind"> & Partial<Pick<TestObject, "apiVersion" | "kind">>): TestObject {
    const store = this.objects.get(plural)!;
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    const old = store.get(key);
    const ref = plural === "widgets" ? Widgets : Gadgets;
    const next: TestObject = structuredClone({ apiVersion: `${ref.group}/${ref.version}`, kind: ref.kind, ...obj }) as TestObject;
    next.metadata.uid ??= old?.metadata.uid ?? `uid-${key}`;
    const specChanged = !old || JSON.stringify(old.spec) !== JSON.stringify(next.spec);
    next.metadata.generation = (old?.metadata.generation ?? 0) + (specChanged ? 1 : 0);
    next.status ??= old?.status;
    this.store(plural, next, old ? "MODIFIED" : "ADDED");
    return structuredClone(next);
  }

  /** Marks an object deleted: gone at once without finalizers, else given a deletionTimestamp. */
  remove(plural: string, ns: string, name: string): void {
    const store = this.objects.get(plural)!;
    const obj = store.get(`${ns}/${name}`);
    if (!obj) return;
    if (!obj.metadata.finalizers?.length) {
      store.delete(`${ns}/${name}`);
      this.notify(plural, "DELETED", obj);
      return;
    }
    obj.metadata.deletionTimestamp ??= new Date().toISOString();
    this.store(plural, obj, "MODIFIED");
  }

  private store(plural: string, obj: TestObject, type: "ADDED" | "MODIFIED"): void {
    obj.metadata.resourceVersion = String(++this.rv);
    const store = this.objects.get(plural)!;
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    if (obj.metadata.deletionTimestamp && !obj.metadata.finalizers?.length) {
      store.delete(key);
      this.notify(plural, "DELETED", obj);
      return;
    }
    store.set(key, obj);
    this.notify(plural, type, obj);
  }

  private notify(plural: string, type: string, obj: TestObject): void {
    this.history.push({ plural, type, rv: Number(obj.metadata.resourceVersion), json: JSON.stringify({ type, object: obj }), labels: obj.metadata.labels });
    for (const w of this.watchers) {
      if (w.plural === plural && matchesSelector(obj.metadata.labels, w.selector)) w.res.write(JSON.stringify({ type, object: obj }) + "\n");
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? "/", "http://x");
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as TestObject) : undefined;
    this.requests.push(`${req.method} ${u.pathname}${u.searchParams.get("watch") ? "?watch" : ""}${u.searchParams.get("labelSelector") ? `?labelSelector=${u.searchParams.get("labelSelector")}` : ""}`);
    const json = (code: number, value: unknown) => void res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(value));
    const status = (code: number, reason: string) => json(code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, code, message: `${reason} (test apiserver)` });
    if (u.pathname.startsWith("/apis/events.k8s.io/")) return json(201, body);
    const m = /^\/apis\/test\.mooring\.dev\/v1(?:\/namespaces\/([^/]+))?\/(widgets|gadgets)(?:\/([^/]+))?(?:\/(status))?$/.exec(u.pathname);
    if (!m) return status(404, "NotFound");
    const [, ns, plural, name, sub] = m as unknown as [string, string | undefined, string, string | undefined, string | undefined];
    const store = this.objects.get(plural)!;
    const selector = u.searchParams.get("labelSelector") ?? undefined;
    if (!name && req.method === "GET") {
      if (u.searchParams.get("watch") === "true") {
        res.writeHead(200, { "content-type": "application/json" });
        res.flushHeaders();
        const from = Number(u.searchParams.get("resourceVersion") || "0");
        for (const h of this.history) if (h.plural === plural && h.rv > from && matchesSelector(h.labels, selector)) res.write(h.json + "\n");
        const w: Watcher = { plural, selector, res };
        this.watchers.add(w);
        res.on("close", () => this.watchers.delete(w));
        return;
      }
      const items = [...store.values()].filter((o) => (!ns || o.metadata.namespace === ns) && matchesSelector(o.metadata.labels, selector));
      return json(200, { kind: "List", apiVersion: "v1", metadata: { resourceVersion: String(this.rv) }, items });
    }
    const key = `${ns}/${name}`;
    const current = store.get(key);
    if (!current) return status(404, "NotFound");
    if (req.method === "GET") return json(200, current);
    if (req.method === "PUT" && sub === "status") {
      if (!body) return status(400, "BadRequest");
      if (this.statusConflicts > 0 || body.metadata.resourceVersion !== current.metadata.resourceVersion) {
        if (this.statusConflicts > 0) this.statusConflicts--;
        return status(409, "Conflict");
      }
      current.status = body.status;
      this.store(plural, current, "MODIFIED");
      return json(200, current);
    }
    if (req.method === "PATCH" && !sub) {
      const patch = body as unknown as { metadata?: { finalizers?: string[]; resourceVersion?: string } };
      if (patch.metadata?.resourceVersion && patch.metadata.resourceVersion !== current.metadata.resourceVersion) return status(409, "Conflict");
      if (patch.metadata?.finalizers) current.metadata.finalizers = patch.metadata.finalizers;
      this.store(plural, current, "MODIFIED");
      return json(200, store.get(key) ?? current);
    }
    return status(405, "MethodNotAllowed");
  }
}

/** Resolves when fn() is true; fails naming what was awaited. */
export async function until(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
