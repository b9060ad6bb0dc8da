import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { findChartVersion, IndexError, indexArtifactContent, parseIndex, sha256Digest } from "../../../controllers/source/helmindex";
import { displayUrl, sendsCredentials } from "../../../controllers/source/helmhttp";
import { humanSize, indexUrl } from "../../../controllers/source/helmrepository";
import { basicAuthFrom, tlsFrom } from "../../../controllers/source/helmsecrets";
import { ReconcileError } from "../../../controllers/runtime/errors";

const index = `apiVersion: v1
entries:
  zeta:
  - name: zeta
    version: 0.1.0
    urls: [zeta-0.1.0.tgz]
  app:
  - {name: app, version: 1.2.0, urls: [app-1.2.0.tgz]}
  - {name: app, version: 1.10.0, urls: [app-1.10.0.tgz]}
  - {name: app, version: not-semver}
  - {name: app, version: 2.0.0-rc.1}
  - {name: app}
  - {version: 0.9.0}
generated: "2026-01-01T00:00:00Z"
`;

describe("Helm repository index", () => {
  test("parses, drops entries without a version, names nameless ones after their key, sorts newest first", () => {
    const parsed = parseIndex(Buffer.from(index));
    assert.deepEqual(Object.keys(parsed.entries), ["app", "zeta"]);
    assert.deepEqual(parsed.entries.app!.map((e) => e.version), ["2.0.0-rc.1", "1.10.0", "1.2.0", "0.9.0", "not-semver"]);
    assert.equal(parsed.entries.app![3]!.name, "app");
    assert.equal(parsed.entries.app![0]!.apiVersion, "v1");
    assert.equal(parsed.generated, "2026-01-01T00:00:00Z");
    assert.deepEqual(JSON.parse(indexArtifactContent(parsed)), parsed);
  });

  test("the revision is the sha256 of the bytes as fetched", () => {
    assert.equal(sha256Digest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  test("bad index files are IndexErrors saying why", () => {
    assert.throws(() => parseIndex(Buffer.alloc(0)), (e: Error) => e instanceof IndexError && /empty/.test(e.message));
    assert.throws(() => parseIndex(Buffer.from("entries: {}\n")), /no API version/);
    assert.throws(() => parseIndex(Buffer.from("- a\n")), /not a mapping/);
    assert.throws(() => parseIndex(Buffer.from("apiVersion: v1\nentries: [\n")), /not valid YAML/);
  });

  test("chart lookup: latest release by default, ranges, and a message naming the range when none matches", () => {
    const parsed = parseIndex(Buffer.from(index));
    assert.equal(findChartVersion(parsed, "app", undefined).version, "1.10.0");
    assert.equal(findChartVersion(parsed, "app", "*").version, "1.10.0");
    assert.equal(findChartVersion(parsed, "app", "~1.2").version, "1.2.0");
    assert.equal(findChartVersion(parsed, "app", "not-semver").version, "not-semver");
    assert.throws(() => findChartVersion(parsed, "app", ">=3.0.0 <4.0.0"), /no 'app' chart with version matching '>=3\.0\.0 <4\.0\.0' found/);
    assert.throws(() => findChartVersion(parsed, "nope", "*"), /no chart name found/);
  });
});

describe("Helm repository HTTP", () => {
  test("index address: <url>/index.yaml, with or without a trailing slash; bad URLs are stalled URLInvalid errors", () => {
    assert.equal(indexUrl("https://charts.example.com").toString(), "https://charts.example.com/index.yaml");
    assert.equal(indexUrl("https://charts.example.com/stable/").toString(), "https://charts.example.com/stable/index.yaml");
    for (const bad of ["oci://r.example.com/charts", "ftp://x/", "not a url"]) {
      assert.throws(() => indexUrl(bad), (e: ReconcileError) => e.reason === "URLInvalid" && e.stalled, bad);
    }
  });

  test("credentials go to the repository's scheme and host only, unless passCredentials", () => {
    const origin = "https://charts.example.com";
    assert.equal(sendsCredentials(new URL("https://charts.example.com/a.tgz"), origin), true);
    assert.equal(sendsCredentials(new URL("https://cdn.example.com/a.tgz"), origin), false);
    assert.equal(sendsCredentials(new URL("https://charts.example.com:8443/a.tgz"), origin), false);
    assert.equal(sendsCredentials(new URL("http://charts.example.com/a.tgz"), origin), false);
    assert.equal(sendsCredentials(new URL("https://cdn.example.com/a.tgz"), origin, true), true);
  });

  test("addresses are shown without userinfo or query", () => {
    assert.equal(displayUrl("https://user:secret@charts.example.com/index.yaml?token=abc"), "https://charts.example.com/index.yaml");
  });

  test("sizes read as Flux's events write them", () => {
    assert.equal(humanSize(999), "999B");
    assert.equal(humanSize(1234), "1.234kB");
    assert.equal(humanSize(10_500_000), "10.5MB");
  });

  test("secret data: basic auth wants both keys, TLS a certificate with its key", () => {
    const get = (d: Record<string, string>) => (k: string) => d[k];
    assert.deepEqual(basicAuthFrom(get({ username: "u", password: "p" }), "'ns/s'"), { username: "u", password: "p" });
    assert.deepEqual(basicAuthFrom(get({}), "'ns/s'"), {});
    assert.throws(() => basicAuthFrom(get({ username: "u" }), "'ns/s'"), (e: ReconcileError) => e.reason === "AuthenticationFailed" && /'password' is missing/.test(e.message));
    const keys = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" };
    assert.deepEqual(tlsFrom(get({ "ca.crt": "CA" }), "'ns/s'", keys), { ca: "CA" });
    assert.deepEqual(tlsFrom(get({ "tls.crt": "C", "tls.key": "K" }), "'ns/s'", keys), { cert: "C", key: "K" });
    assert.throws(() => tlsFrom(get({ "tls.key": "K" }), "'ns/s'", keys), /'tls\.crt' is missing/);
  });
});
