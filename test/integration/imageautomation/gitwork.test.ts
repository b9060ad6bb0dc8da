// The automation's git work on real git repositories (no cluster): a commit only when the edit changed
// something; a concurrent push makes the first push non-fast-forward, and the edit is applied again on the new
// tip and pushed; a push the server refuses (pre-receive hook) is an error and the branch stays as it was;
// a signing key signs the commit (real gpg).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { commitAndPush, PushRejectedError } from "../../../controllers/imageautomation/gitwork";
import { updateFiles } from "../../../controllers/imageautomation/update";
import type { ImageRef } from "../../../controllers/api/image";

const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid", GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" };
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, env, encoding: "utf8" }).trim();

const deployment = (image: string) => `# the app
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: ${image} # {"$imagepolicy": "flux-system:app"}
`;

describe("image automation git work", () => {
  let dir: string;
  let bare: string;
  let work: string;
  const policies = new Map<string, ImageRef>([["flux-system:app", { name: "registry.local/app", tag: "1.2.4" }]]);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mooring-imageauto-git-"));
    bare = path.join(dir, "fleet.git");
    work = path.join(dir, "work");
    git(dir, "init", "-q", "--bare", "-b", "main", bare);
    git(dir, "clone", "-q", bare, work);
    fs.mkdirSync(path.join(work, "apps"));
    fs.writeFileSync(path.join(work, "apps", "deploy.yaml"), deployment("registry.local/app:1.2.3"));
    fs.writeFileSync(path.join(work, "README.md"), "fleet\n");
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", "init");
    git(work, "push", "-q", "origin", "main");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (o: { edit?: (tree: string, attempt: number) => Promise<string | undefined>; signingKey?: { armored: string } } = {}) => {
    let attempt = 0;
    return commitAndPush({
      url: `file://${bare}`,
      auth: {},
      checkout: { fetchRef: "refs/heads/main" },
      push: { branch: "main" },
      commit: { authorName: "bot", authorEmail: "bot@x.invalid", signingKey: o.signingKey },
      scratch: dir,
      signal: AbortSignal.timeout(60_000),
      edit: (tree) => (o.edit ? o.edit(tree, ++attempt) : updateFiles(tree, "apps", policies).then((r) => (r.files.size ? "update app" : undefined))),
    });
  };

  test("a concurrent push is fetched, the edit re-applied on the new tip, and pushed", async () => {
    const outcome = await run({
      edit: async (tree, attempt) => {
        if (attempt === 1) {
          // Another writer pushes to main while this run works.
          git(work, "pull", "-q", "--rebase", "origin", "main");
          fs.writeFileSync(path.join(work, "README.md"), "fleet, edited concurrently\n");
          git(work, "commit", "-q", "-am", "concurrent");
          git(work, "push", "-q", "origin", "main");
        }
        const r = await updateFiles(tree, "apps", policies);
        return r.files.size ? "update app" : undefined;
      },
    });
    assert.equal(outcome.attempts, 2);
    assert.ok(outcome.pushed);
    assert.equal(git(bare, "rev-parse", "main"), outcome.pushed);
    assert.equal(git(bare, "log", "--format=%s", "-3", "main"), "update app\nconcurrent\ninit");
    assert.equal(git(bare, "show", "main:README.md"), "fleet, edited concurrently");
    assert.equal(git(bare, "show", "main:apps/deploy.yaml") + "\n", deployment("registry.local/app:1.2.4"));
    assert.equal(git(bare, "log", "-1", "--format=%an <%ae>", "main"), "bot <bot@x.invalid>");
  });

  test("nothing changed: no commit", async () => {
    const before = git(bare, "rev-parse", "main");
    const outcome = await run();
    assert.equal(outcome.pushed, undefined);
    assert.equal(git(bare, "rev-parse", "main"), before);
  });

  test("a push the server refuses is an error and nothing reaches the branch", async () => {
    const hook = path.join(bare, "hooks", "pre-receive");
    fs.writeFileSync(hook, "#!/bin/sh\necho 'branch main is protected' >&2\nexit 1\n", { mode: 0o755 });
    try {
      const before = git(bare, "rev-parse", "main");
      const next = new Map<string, ImageRef>([["flux-system:app", { name: "registry.local/app", tag: "1.2.5" }]]);
      await assert.rejects(
        commitAndPush({
          url: `file://${bare}`,
          auth: {},
          checkout: { fetchRef: "refs/heads/main" },
          push: { branch: "main" },
          commit: { authorName: "bot", authorEmail: "bot@x.invalid" },
          scratch: dir,
          signal: AbortSignal.timeout(60_000),
          edit: (tree) => updateFiles(tree, "apps", next).then((r) => (r.files.size ? "update" : undefined)),
        }),
        (e: Error) => e instanceof PushRejectedError && /pre-receive hook declined/.test(e.message),
      );
      assert.equal(git(bare, "rev-parse", "main"), before);
    } finally {
      fs.rmSync(hook);
    }
  });

  test("a signing key signs the commit", async () => {
    const gnupg = path.join(dir, "gnupg");
    fs.mkdirSync(gnupg, { mode: 0o700 });
    const gpg = (...args: string[]) => execFileSync("gpg", ["--homedir", gnupg, "--batch", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    gpg("--passphrase", "", "--quick-gen-key", "bot <bot@x.invalid>", "ed25519", "sign", "never");
    const armored = gpg("--armor", "--export-secret-keys", "bot@x.invalid");
    const next = new Map<string, ImageRef>([["flux-system:app", { name: "registry.local/app", tag: "1.3.0" }]]);
    const outcome = await run({ signingKey: { armored }, edit: (tree) => updateFiles(tree, "apps", next).then((r) => (r.files.size ? "signed update" : undefined)) });
    assert.ok(outcome.pushed);
    const raw = git(bare, "cat-file", "commit", outcome.pushed!);
    assert.match(raw, /^gpgsig -----BEGIN PGP SIGNATURE-----/m);
    const verified = execFileSync("git", ["verify-commit", "--raw", outcome.pushed!], { cwd: bare, env: { ...env, GNUPGHOME: gnupg }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(verified, "");
  });
});
