// The controllers' command line: pflag's grammar, Flux's flag names and defaults, actionable errors.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FlagError, controllersUsage, controllerFlags, featureGates, parseControllersArgs, parseFeatureGates } from "../../../controllers/flags";
import { parseFlagSet } from "../../../controllers/flagset";
import { watchedNamespace, type ControllersOptions } from "../../../controllers/main";

function parse(...argv: string[]): ControllersOptions {
  const r = parseControllersArgs(argv, { RUNTIME_NAMESPACE: "flux-system" });
  assert.equal(r.help, false);
  return (r as { options: ControllersOptions }).options;
}

const refuses = (argv: string[], message: RegExp) => assert.throws(() => parseControllersArgs(argv, {}), (err: unknown) => err instanceof FlagError && message.test(err.message));

describe("flag grammar (Go pflag)", () => {
  it("reads --flag=value and --flag value alike", () => {
    assert.equal(parse("--log-level=debug").logLevel, "debug");
    assert.equal(parse("--log-level", "debug").logLevel, "debug");
    assert.deepEqual(parse("--controllers", "source,kustomize").controllers, ["source", "kustomize"]);
  });

  it("reads booleans as --flag, --flag=true|false and Go's other spellings, never taking the next word", () => {
    assert.equal(parse("--enable-leader-election").leaderElect, true);
    assert.equal(parse("--enable-leader-election=false").leaderElect, false);
    assert.equal(parse("--enable-leader-election=1").leaderElect, true);
    assert.equal(parse("--enable-leader-election=F").leaderElect, false);
    assert.equal(parse("--enable-leader-election", "--log-level=info").leaderElect, true);
    refuses(["--enable-leader-election", "false"], /unexpected argument "false"/);
    refuses(["--no-remote-bases=yes"], /invalid argument "yes" for --no-remote-bases: must be true or false/);
  });

  it("keeps the last value of a repeated flag, as pflag does", () => {
    assert.equal(parse("--log-level=debug", "--log-level=error").logLevel, "error");
  });

  it("refuses an unknown flag by name and suggests near ones", () => {
    refuses(["--bogus"], /unknown flag: --bogus/);
    refuses(["--leader-election"], /unknown flag: --leader-election \(did you mean .*--enable-leader-election/);
    refuses(["-v"], /unknown shorthand flag "-v"/);
  });

  it("refuses a value flag without its value", () => {
    refuses(["--log-level"], /flag needs an argument: --log-level/);
  });

  it("treats everything after -- as arguments, and the controllers take none", () => {
    assert.deepEqual(parseFlagSet(["--kubeconfig=x", "--", "--log-level"], controllerFlags).positionals, ["--log-level"]);
    refuses(["extra"], /unexpected argument "extra"/);
  });

  it("--help and -h list every flag, alias and feature gate", () => {
    for (const argv of [["--help"], ["-h"], ["--log-level=bad", "--help"]]) {
      const r = parseControllersArgs(argv, {});
      assert.equal(r.help, true);
    }
    const usage = controllersUsage();
    for (const f of controllerFlags) assert.match(usage, new RegExp(`--${f.name}\\b`), `--help lists --${f.name}`);
    assert.match(usage, /alias --leader-elect/);
    for (const gate of Object.keys(featureGates)) assert.match(usage, new RegExp(`${gate} \\(default (true|false)\\)`));
  });
});

describe("Flux's flags and defaults", () => {
  it("defaults as Flux's controllers", () => {
    const o = parse();
    assert.deepEqual(o.controllers, ["source"]);
    assert.equal(o.watchAllNamespaces, true);
    assert.equal(o.watchNamespace, undefined);
    assert.equal(o.leaderElect, false);
    assert.equal(o.metricsAddr, ":8080");
    assert.equal(o.healthAddr, ":9440");
    assert.equal(o.storageAddr, ":9090");
    assert.equal(o.logLevel, "info");
    assert.equal(o.logEncoding, "json");
    assert.equal(o.kubeApiQps, undefined, "no client-side limit unless asked for");
    assert.equal(o.kubeApiBurst, undefined);
    assert.equal(o.minRetryDelayMs, 750);
    assert.equal(o.maxRetryDelayMs, 15 * 60_000);
    assert.equal(o.intervalJitterPercentage, 5);
    assert.equal(o.leaderElectionLeaseDurationMs, 35_000);
    assert.equal(o.leaderElectionRenewDeadlineMs, 30_000);
    assert.equal(o.leaderElectionRetryPeriodMs, 5_000);
    assert.equal(o.artifactRetentionTtlMs, 60_000);
    assert.equal(o.artifactRetentionRecords, 2);
    assert.deepEqual([o.helmIndexMaxSize, o.helmChartMaxSize, o.helmChartFileMaxSize], [50 << 20, 10 << 20, 5 << 20], "Flux's Helm size limits");
    assert.deepEqual(o.featureGates, { AdditiveCELDependencyCheck: false, CancelHealthCheckOnNewRevision: true, DriftWatch: true, StrictPostBuildSubstitutions: false });
    assert.equal(o.driftWatch, true);
    assert.equal(o.cancelHealthCheckOnNewRevision, true);
    assert.equal(o.strictSubstitutions, false);
    assert.equal(o.noCrossNamespaceRefs, false);
    assert.equal(o.noRemoteBases, false);
    assert.equal(o.eventsAddr, undefined);
    assert.equal(o.concurrent, undefined);
  });

  it("reads every Flux flag into the options", () => {
    const o = parse(
      "--watch-all-namespaces=false",
      "--watch-label-selector=sharding.fluxcd.io/key in (shard1, shard2)",
      "--enable-leader-election",
      "--leader-election-lease-duration=20s",
      "--leader-election-renew-deadline=15s",
      "--leader-election-retry-period=2s",
      "--log-encoding=console",
      "--log-level=trace",
      "--metrics-addr=127.0.0.1:18080",
      "--health-addr=0",
      "--concurrent=20",
      "--requeue-dependency=5s",
      "--kube-api-qps=500.5",
      "--kube-api-burst=1000",
      "--min-retry-delay=1s",
      "--max-retry-delay=2m",
      "--interval-jitter-percentage=0",
      "--feature-gates=CancelHealthCheckOnNewRevision=false,StrictPostBuildSubstitutions=true",
      "--storage-path=/data",
      "--storage-addr=:9090",
      "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.",
      "--artifact-retention-ttl=5m",
      "--artifact-retention-records=5",
      "--helm-index-max-size=1000",
      "--helm-chart-max-size=2000",
      "--helm-chart-file-max-size=300",
      "--default-service-account=default",
      "--no-cross-namespace-refs",
      "--no-remote-bases=true",
      "--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
    );
    assert.equal(o.watchAllNamespaces, false);
    assert.equal(o.watchLabelSelector, "sharding.fluxcd.io/key in (shard1, shard2)");
    assert.equal(o.leaderElect, true);
    assert.deepEqual([o.leaderElectionLeaseDurationMs, o.leaderElectionRenewDeadlineMs, o.leaderElectionRetryPeriodMs], [20_000, 15_000, 2_000]);
    assert.equal(o.logEncoding, "console");
    assert.equal(o.logLevel, "trace");
    assert.equal(o.metricsAddr, "127.0.0.1:18080");
    assert.equal(o.healthAddr, "", "0 turns the health endpoint off");
    assert.equal(o.concurrent, 20);
    assert.equal(o.requeueDependency, "5s");
    assert.equal(o.kubeApiQps, 500.5);
    assert.equal(o.kubeApiBurst, 1000);
    assert.deepEqual([o.minRetryDelayMs, o.maxRetryDelayMs], [1_000, 120_000]);
    assert.equal(o.intervalJitterPercentage, 0);
    assert.deepEqual(o.featureGates, { AdditiveCELDependencyCheck: false, CancelHealthCheckOnNewRevision: false, DriftWatch: true, StrictPostBuildSubstitutions: true });
    assert.equal(o.cancelHealthCheckOnNewRevision, false);
    assert.equal(o.strictSubstitutions, true);
    assert.equal(o.storagePath, "/data");
    assert.equal(o.storageAdvAddr, "source-controller.flux-system.svc.cluster.local.", "$(RUNTIME_NAMESPACE) expanded from the environment");
    assert.equal(o.artifactRetentionTtlMs, 300_000);
    assert.equal(o.artifactRetentionRecords, 5);
    assert.deepEqual([o.helmIndexMaxSize, o.helmChartMaxSize, o.helmChartFileMaxSize], [1000, 2000, 300]);
    assert.equal(o.defaultServiceAccount, "default");
    assert.equal(o.noCrossNamespaceRefs, true);
    assert.equal(o.noRemoteBases, true);
    assert.equal(o.eventsAddr, "http://notification-controller.flux-system.svc.cluster.local./");
  });

  it("keeps --leader-elect as an alias of --enable-leader-election", () => {
    assert.equal(parse("--leader-elect").leaderElect, true);
    assert.equal(parse("--leader-elect=false").leaderElect, false);
  });

  it("--watch-namespace picks one namespace and contradicts --watch-all-namespaces=true", () => {
    const o = parse("--watch-namespace=apps");
    assert.equal(o.watchNamespace, "apps");
    assert.equal(o.watchAllNamespaces, false);
    refuses(["--watch-namespace=apps", "--watch-all-namespaces=true"], /contradict each other/);
    refuses(["--watch-namespace=Apps"], /not a namespace name/);
  });

  it("keeps the dedicated gate flags as aliases of --feature-gates, and refuses a contradiction", () => {
    assert.equal(parse("--drift-watch=false").featureGates?.DriftWatch, false);
    assert.equal(parse("--drift-watch=false").driftWatch, false);
    assert.equal(parse("--feature-gates=DriftWatch=false").driftWatch, false);
    assert.equal(parse("--strict-substitutions").featureGates?.StrictPostBuildSubstitutions, true);
    assert.equal(parse("--cancel-health-check-on-new-revision=false", "--feature-gates=CancelHealthCheckOnNewRevision=false").cancelHealthCheckOnNewRevision, false);
    refuses(["--drift-watch=true", "--feature-gates=DriftWatch=false"], /--drift-watch=true contradicts --feature-gates=DriftWatch=false/);
  });

  it("sets AdditiveCELDependencyCheck only through --feature-gates (it has no flag of its own)", () => {
    assert.equal(parse().additiveCelDependencyCheck, false);
    assert.equal(parse("--feature-gates=AdditiveCELDependencyCheck=true").additiveCelDependencyCheck, true);
    refuses(["--additive-cel-dependency-check"], /additive-cel-dependency-check/);
  });

  it("accepts the controllers by Flux's Deployment names too", () => {
    assert.deepEqual(parse("--controllers=source-controller,kustomize-controller").controllers, ["source", "kustomize"]);
  });
});

describe("validation errors say what is accepted", () => {
  const cases: [string[], RegExp][] = [
    [["--controllers=image"], /unknown controller "image" \(known: source, kustomize, helm, notification, source-watcher, image-reflector, image-automation\)/],
    [["--controllers="], /give at least one of source, kustomize/],
    [["--log-level=warning"], /invalid argument "warning" for --log-level: must be one of trace, debug, info, error/],
    [["--log-encoding=text"], /must be one of json, console/],
    [["--concurrent=0"], /--concurrent: must be at least 1/],
    [["--concurrent=two"], /--concurrent: must be a whole number/],
    [["--kube-api-qps=-1"], /--kube-api-qps: must be a number greater than 0/],
    [["--kube-api-burst=0"], /--kube-api-burst: must be at least 1/],
    [["--interval-jitter-percentage=100"], /--interval-jitter-percentage: must be between 0 and 99/],
    [["--interval-jitter-percentage=-5"], /must be between 0 and 99/],
    [["--min-retry-delay=soon"], /--min-retry-delay: must be a duration like 30s/],
    [["--min-retry-delay=1h", "--max-retry-delay=1m"], /--min-retry-delay \(3600000ms\) must not be longer than --max-retry-delay/],
    [["--leader-election-lease-duration=10s"], /lease-duration \(10000ms\) must be longer than --leader-election-renew-deadline/],
    [["--leader-election-retry-period=40s", "--leader-election-lease-duration=60s", "--leader-election-renew-deadline=30s"], /renew-deadline .* must be longer than --leader-election-retry-period/],
    [["--leader-elect", "--leader-election-lease-duration=0s"], /--leader-election-lease-duration: must be longer than 0/],
    [["--metrics-addr=8080"], /--metrics-addr: must be HOST:PORT or :PORT/],
    [["--health-addr=:99999"], /--health-addr: must be HOST:PORT/],
    [["--storage-addr=0"], /--storage-addr cannot be turned off/],
    [["--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc"], /\$\(RUNTIME_NAMESPACE\) is not set in the environment/],
    [["--events-addr=notification-controller:80"], /--events-addr "notification-controller:80" is a listen address, which only the notification-controller takes; the other controllers need its URL/],
    [["--events-addr=ftp://notification-controller/"], /--events-addr: must be an http:\/\/ or https:\/\/ URL/],
    [["--controllers=source,notification", "--storage-addr=:9090"], /use the same port; give one of them another/],
    [["--watch-label-selector=a=b,,c"], /--watch-label-selector: .*empty requirement/],
    [["--watch-label-selector=bad key=1"], /--watch-label-selector: .*cannot read/],
    [["--feature-gates=OptimizedGitClones=true"], /unknown feature gate "OptimizedGitClones" \(known: AdditiveCELDependencyCheck, CancelHealthCheckOnNewRevision, DriftWatch, StrictPostBuildSubstitutions\)/],
    [["--feature-gates=DriftWatch"], /"DriftWatch" must be DriftWatch=true or DriftWatch=false/],
    [["--artifact-retention-records=0"], /--artifact-retention-records: must be at least 1/],
    [["--requeue-dependency=later"], /--requeue-dependency: must be a duration/],
    [["--helm-chart-max-size=10MiB"], /--helm-chart-max-size: must be a whole number/],
    [["--helm-chart-file-max-size=0"], /--helm-chart-file-max-size: must be at least 1/],
  ];
  for (const [argv, message] of cases) {
    it(`${argv.join(" ")} → ${message.source.slice(0, 60)}`, () => refuses(argv, message));
  }

  it("does not repeat a URL that carries credentials", () => {
    assert.throws(
      () => parseControllersArgs(["--events-addr=ftp://user:s3cret@host/"], {}),
      (err: unknown) => err instanceof FlagError && /--events-addr: must be an http/.test(err.message) && !err.message.includes("s3cret"),
    );
  });

  it("names the flag as it was spelled (an alias stays an alias)", () => {
    refuses(["--leader-elect=maybe"], /for --leader-elect: must be true or false/);
  });
});

describe("parseFeatureGates", () => {
  it("reads Gate=bool pairs and skips empty items", () => {
    assert.deepEqual(parseFeatureGates("DriftWatch=false, CancelHealthCheckOnNewRevision=true,"), { DriftWatch: false, CancelHealthCheckOnNewRevision: true });
    assert.deepEqual(parseFeatureGates(""), {});
  });
});

describe("which namespace the controllers watch", () => {
  it("all by default, the runtime namespace with --watch-all-namespaces=false, or the one --watch-namespace names", () => {
    const saved = process.env.RUNTIME_NAMESPACE;
    process.env.RUNTIME_NAMESPACE = "gitops-system";
    try {
      assert.equal(watchedNamespace(parse()), undefined);
      assert.equal(watchedNamespace(parse("--watch-all-namespaces=false")), "gitops-system");
      assert.equal(watchedNamespace(parse("--watch-namespace=apps")), "apps");
    } finally {
      if (saved === undefined) delete process.env.RUNTIME_NAMESPACE;
      else process.env.RUNTIME_NAMESPACE = saved;
    }
  });
});

it("--events-addr is the URL events are posted to, and the notification-controller's listen address for itself", () => {
  const sender = parse("--controllers=kustomize", "--events-addr=http://notification-controller.flux-system.svc.cluster.local./");
  assert.equal(sender.eventsAddr, "http://notification-controller.flux-system.svc.cluster.local./");
  assert.equal(sender.eventsListenAddr, undefined);
  const nc = parse("--controllers=notification", "--events-addr=:9999", "--receiverAddr=:9393", "--rate-limit-interval=1m");
  assert.equal(nc.eventsListenAddr, ":9999");
  assert.equal(nc.eventsAddr, undefined);
  assert.equal(nc.receiverAddr, ":9393");
  assert.equal(nc.rateLimitIntervalMs, 60_000);
  const defaults = parse("--controllers=notification");
  assert.equal(defaults.eventsListenAddr, ":9090");
  assert.equal(defaults.receiverAddr, ":9292");
  assert.equal(defaults.rateLimitIntervalMs, 5 * 60_000);
});

it("--gcr-certs-url sets where gcr Receivers fetch Google's keys; anything but an http(s) URL is refused", () => {
  assert.equal(parse("--controllers=notification", "--gcr-certs-url=http://127.0.0.1:8080/certs").googleCertsUrl, "http://127.0.0.1:8080/certs");
  assert.equal(parse("--controllers=notification").googleCertsUrl, undefined);
  assert.throws(() => parse("--controllers=notification", "--gcr-certs-url=certs.json"), /--gcr-certs-url "certs.json" is not an http:\/\/ or https:\/\/ URL/);
});
