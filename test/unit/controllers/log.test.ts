// The controllers' log lines in Flux's shape, as `flux logs` reads them: string level, ts, msg and error,
// the object's kind, name and namespace; console lines for people.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { consoleLine, newLogger } from "../../../controllers/runtime/log";

function capture(level = "trace", encoding: "json" | "console" = "json") {
  const lines: string[] = [];
  const log = newLogger(level, { write: (s: string) => void lines.push(...s.split("\n").filter(Boolean)) }, encoding);
  return { log, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** What `flux logs` decodes from a line: every field it reads must be a string when present. */
function fluxLogsEntry(line: Record<string, unknown>) {
  for (const key of ["ts", "level", "msg", "error", "logger", "controllerKind", "name", "namespace"]) {
    if (key in line) assert.equal(typeof line[key], "string", `flux logs reads "${key}" as a string`);
  }
  return { ts: line.ts as string, level: line.level as string, kind: line.controllerKind as string | undefined, name: line.name as string | undefined, namespace: line.namespace as string | undefined };
}

describe("Flux's JSON log shape", () => {
  it("writes level as a word, ts as an RFC 3339 UTC time, and msg", () => {
    const { log, json } = capture();
    const before = Date.now();
    log.info("controllers started");
    const [line] = json();
    assert.equal(line!.level, "info");
    assert.equal(line!.msg, "controllers started");
    assert.match(line!.ts as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(line!.ts as string) - before) < 5_000);
    assert.ok(!("time" in line!) && !("pid" in line!) && !("hostname" in line!), "no pino-only fields");
    fluxLogsEntry(line!);
  });

  it("uses only the levels flux logs --level selects (debug, info, error) plus trace", () => {
    const { log, json } = capture();
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    log.fatal("f");
    assert.deepEqual(json().map((l) => l.level), ["trace", "debug", "info", "info", "error", "error"]);
  });

  it("honours the level: debug lines are dropped at info", () => {
    const { log, json } = capture("info");
    log.debug("hidden");
    log.info("shown");
    assert.deepEqual(json().map((l) => l.msg), ["shown"]);
  });

  it("gives a reconcile's lines the object's kind, group, name and namespace as Flux's controllers do", () => {
    const { log, json } = capture();
    log.child({ controller: "kustomization", name: "apps", namespace: "flux-system" }).info({ revision: "main@sha1:abc" }, "Reconciliation finished");
    log.child({ controller: "gitrepository", name: "flux-system", namespace: "flux-system" }).info("stored new artifact");
    const [k, g] = json();
    assert.equal(k!.controller, "kustomization");
    assert.equal(k!.controllerKind, "Kustomization");
    assert.equal(k!.controllerGroup, "kustomize.toolkit.fluxcd.io");
    assert.deepEqual(k!.Kustomization, { name: "apps", namespace: "flux-system" });
    assert.equal(k!.revision, "main@sha1:abc");
    assert.deepEqual(fluxLogsEntry(k!), { ts: k!.ts, level: "info", kind: "Kustomization", name: "apps", namespace: "flux-system" });
    assert.equal(g!.controllerKind, "GitRepository");
    assert.equal(g!.controllerGroup, "source.toolkit.fluxcd.io");
    assert.deepEqual(g!.GitRepository, { name: "flux-system", namespace: "flux-system" });
  });

  it("keeps the object fields on grandchildren and does not leak one line's fields into the next", () => {
    const { log, json } = capture();
    const child = log.child({ controller: "kustomization", name: "apps", namespace: "default" });
    child.info({ revision: "r1" }, "first");
    child.info("second");
    child.child({ stage: "apply" }).info("third");
    const [a, b, c] = json();
    assert.equal(a!.revision, "r1");
    assert.ok(!("revision" in b!), "fields of one line stay on that line");
    assert.equal(c!.controllerKind, "Kustomization");
    assert.equal(c!.stage, "apply");
  });

  it("writes errors as one string under error, whatever was logged", () => {
    const { log, json } = capture();
    log.error({ err: new Error("dial tcp: connection refused") }, "reconcile failed");
    log.error({ err: "kustomize build failed" }, "reconcile failed");
    log.error(new Error("plain"));
    log.info({ error: { code: 1 } }, "odd");
    const lines = json();
    assert.deepEqual(
      lines.map((l) => l.error),
      ["dial tcp: connection refused", "kustomize build failed", "plain", '{"code":1}'],
    );
    for (const l of lines) {
      assert.ok(!("err" in l));
      fluxLogsEntry(l);
    }
  });

  it("leaves lines that are not about an object without object fields", () => {
    const { log, json } = capture();
    log.child({ controller: "kustomization", component: "drift" }).info("drift watch started");
    const [line] = json();
    assert.ok(!("controllerKind" in line!) && !("Kustomization" in line!));
  });
});

describe("console encoding", () => {
  it("writes time, LEVEL, Kind/name.namespace, message, the other fields and the error", () => {
    const { log, lines } = capture("info", "console");
    log.child({ controller: "kustomization", name: "apps", namespace: "flux-system" }).error({ err: "boom", revision: "r" }, "reconciliation failed");
    log.info("controllers started");
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z\tERROR\tKustomization\/apps\.flux-system reconciliation failed\t\{"controller":"kustomization","revision":"r"\}\terror: boom$/);
    assert.match(lines[1]!, /^\S+Z\tINFO\tcontrollers started$/);
    assert.ok(!lines.some((l) => l.startsWith("{")), "no JSON lines");
  });

  it("passes a line that is not JSON through unchanged", () => {
    assert.equal(consoleLine("not json"), "not json");
  });
});
