// bootstrap/git against real git servers: a bare repository over file:// and over smart HTTP
// (git http-backend) with basic auth.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commitToBranch, deleteFiles, readRemoteHead, type CommitOptions } from "../../../bootstrap/git/repository";
import { isBootstrapError } from "../../../bootstrap/errors";
import { basicAuth, createBareRepository, startGitHttpServer, type RunningGitHttpServer } from "../../fixtures/github/git-http";

const author = { name: "Mooring Test", email: "mooring@example.test" };

function git(repo: string, ...args: string[]): string {
  return execFileSync("git", ["--git-dir", repo, ...args], { encoding: "utf8" }).trim();
}

function show(repo: string, branch: string, path: string): string {
  return execFileSync("git", ["--git-dir", repo, "show", `${branch}:${path}`], { encoding: "utf8" });
}

function files(repo: string, branch: string): string[] {
  return git(repo, "ls-tree", "-r", "--name-only", branch).split("\n").filter(Boolean).sort();
}

const root = mkdtempSync(join(tmpdir(), "mooring-git-it-"));
after(() => rmSync(root, { recursive: true, force: true }));

describe("commitToBranch over file://", () => {
  const repo = createBareRepository(root, "file/fleet.git");
  const url = `file://${repo}`;
  const base = { url, branch: "main", author, message: "mooring: bootstrap" } satisfies Partial<CommitOptions>;

  it("creates the branch in an empty repository", async () => {
    const result = await commitToBranch({ ...base, change: { write: { "clusters/prod/flux-system/gotk-sync.yaml": "sync: 1\n" } } });
    assert.equal(result.changed, true);
    assert.equal(result.attempts, 1);
    assert.equal(git(repo, "rev-parse", "refs/heads/main"), result.commit);
    assert.equal(show(repo, "main", "clusters/prod/flux-system/gotk-sync.yaml"), "sync: 1\n");
    assert.equal(git(repo, "log", "-1", "--format=%an <%ae>|%s", "main"), "Mooring Test <mooring@example.test>|mooring: bootstrap");
  });

  it("makes no commit when nothing changed and returns the existing head", async () => {
    const head = git(repo, "rev-parse", "main");
    const result = await commitToBranch({ ...base, change: { write: { "clusters/prod/flux-system/gotk-sync.yaml": "sync: 1\n" } } });
    assert.deepEqual(result, { commit: head, changed: false, attempts: 0 });
    assert.equal(git(repo, "rev-list", "--count", "main"), "1");
  });

  it("computes a change from the branch's current content", async () => {
    await commitToBranch({ ...base, change: { write: { "clusters/prod/flux-system/kustomization.yaml": "# user patches\n" } } });
    const seen: (string | undefined)[] = [];
    await commitToBranch({
      ...base,
      change: async (tree) => {
        seen.push(await tree.read("clusters/prod/flux-system/kustomization.yaml"), await tree.read("missing.yaml"));
        return { write: { "clusters/prod/flux-system/gotk-sync.yaml": "sync: 2\n" } };
      },
    });
    assert.deepEqual(seen, ["# user patches\n", undefined]);
    assert.equal(show(repo, "main", "clusters/prod/flux-system/gotk-sync.yaml"), "sync: 2\n");
  });

  it("deletes a set of files in one commit", async () => {
    const before = Number(git(repo, "rev-list", "--count", "main"));
    const result = await deleteFiles({ ...base, message: "mooring: uninstall" }, ["clusters/prod/flux-system/gotk-sync.yaml", "not-there.yaml"]);
    assert.equal(result.changed, true);
    assert.deepEqual(files(repo, "main"), ["clusters/prod/flux-system/kustomization.yaml"]);
    assert.equal(Number(git(repo, "rev-list", "--count", "main")), before + 1);
  });

  it("creates a missing branch next to an existing one", async () => {
    const result = await commitToBranch({ ...base, branch: "staging", change: { write: { "a.txt": "a\n" } } });
    assert.equal(result.changed, true);
    assert.deepEqual(files(repo, "staging"), ["a.txt"]);
    assert.equal(await readRemoteHead({ url, branch: "staging" }), result.commit);
    assert.equal(await readRemoteHead({ url, branch: "nope" }), undefined);
  });

  it("refuses paths outside the work tree", async () => {
    await assert.rejects(commitToBranch({ ...base, change: { write: { "../escape": "x" } } }), (e) => isBootstrapError(e, "InvalidInput"));
    await assert.rejects(commitToBranch({ ...base, change: { write: { ".git/config": "x" } } }), (e) => isBootstrapError(e, "InvalidInput"));
  });

  it("lands both commits when two writers push at once", async () => {
    // Both writers check out the same head before either pushes: one push must be rejected and retried.
    let arrived = 0;
    let release: () => void = () => {};
    const barrier = new Promise<void>((resolve) => (release = resolve));
    const writer = (name: string) =>
      commitToBranch({
        ...base,
        message: `writer ${name}`,
        retry: { baseDelayMs: 10, maxDelayMs: 50 },
        change: async () => {
          if (++arrived === 2) release();
          await barrier;
          return { write: { [`race/${name}.txt`]: `${name}\n` } };
        },
      });
    const [a, b] = await Promise.all([writer("a"), writer("b")]);
    assert.ok(a.changed && b.changed);
    assert.deepEqual([a.attempts, b.attempts].sort(), [1, 2], "exactly one writer was rejected once");
    assert.deepEqual(files(repo, "main").filter((f) => f.startsWith("race/")), ["race/a.txt", "race/b.txt"]);
    const log = git(repo, "log", "--format=%s", "-2", "main").split("\n").sort();
    assert.deepEqual(log, ["writer a", "writer b"]);
  });
});

describe("commitToBranch over smart HTTP with basic auth", () => {
  let server: RunningGitHttpServer;
  let moveBranch = false;
  const httpRoot = join(root, "http");
  const repo = createBareRepository(httpRoot, "acme/fleet.git");
  const password = "s3cret-token-value";
  before(async () => {
    server = await startGitHttpServer({
      root: httpRoot,
      authorize: basicAuth("x-access-token", password),
      // Simulates a writer that always pushes first: the branch moves before every push lands.
      beforeReceivePack: (path) => {
        if (!moveBranch) return;
        const head = git(path, "rev-parse", "refs/heads/main");
        const tree = git(path, "rev-parse", `${head}^{tree}`);
        const other = execFileSync("git", ["--git-dir", path, "commit-tree", tree, "-p", head, "-m", "someone else"], {
          encoding: "utf8",
          env: { ...process.env, GIT_AUTHOR_NAME: "o", GIT_AUTHOR_EMAIL: "o@x", GIT_COMMITTER_NAME: "o", GIT_COMMITTER_EMAIL: "o@x" },
        }).trim();
        git(path, "update-ref", "refs/heads/main", other);
      },
    });
  });
  after(() => server.close());
  const url = () => `${server.url}/acme/fleet.git`;
  const credentials = { kind: "basic", username: "x-access-token", password } as const;

  it("pushes with credentials that never reach argv, config or messages", async () => {
    const result = await commitToBranch({ url: url(), branch: "main", credentials, author, message: "init", change: { write: { "README.md": "fleet\n" } } });
    assert.equal(result.changed, true);
    assert.equal(git(repo, "rev-parse", "main"), result.commit);
  });

  it("takes credentials embedded in the URL and keeps them out of errors", async () => {
    const embedded = url().replace("http://", `http://x-access-token:${password}@`);
    const result = await commitToBranch({ url: embedded, branch: "main", author, message: "second", change: { write: { "b.txt": "b\n" } } });
    assert.equal(result.changed, true);
    const bad = url().replace("http://", "http://x-access-token:wrong-token-123@");
    await assert.rejects(commitToBranch({ url: bad, branch: "main", author, message: "x", change: { write: { "c.txt": "c\n" } } }), (e) => {
      assert.ok(isBootstrapError(e, "GitAuthFailed"), String(e));
      assert.ok(!e.message.includes("wrong-token-123"), e.message);
      assert.ok(e.message.includes(url()), `message names the repository: ${e.message}`);
      assert.match(e.message, /branch main/);
      return true;
    });
  });

  it("fails with GitAuthFailed without credentials", async () => {
    await assert.rejects(commitToBranch({ url: url(), branch: "main", author, message: "x", change: { write: { "c.txt": "c\n" } } }), (e) => isBootstrapError(e, "GitAuthFailed"));
  });

  it("gives up after the bounded attempts with a clear, secret-free error", async () => {
    moveBranch = true;
    try {
      await assert.rejects(
        commitToBranch({ url: url(), branch: "main", credentials, author, message: "doomed", retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 }, change: { write: { "d.txt": "d\n" } } }),
        (e) => {
          assert.ok(isBootstrapError(e, "GitPushRejected"), String(e));
          assert.ok(e.message.startsWith(`git push to ${url()} (branch main) rejected 3 times:`), e.message);
          assert.ok(!e.message.includes(password));
          return true;
        },
      );
    } finally {
      moveBranch = false;
    }
    assert.ok(!files(repo, "main").includes("d.txt"));
  });

  it("lands both commits when two writers race over HTTP", async () => {
    const writers = ["x", "y"].map((name) =>
      commitToBranch({ url: url(), branch: "main", credentials, author, message: `race ${name}`, retry: { attempts: 6, baseDelayMs: 20 }, change: { write: { [`${name}.txt`]: name } } }),
    );
    const results = await Promise.all(writers);
    assert.ok(results.every((r) => r.changed));
    const tree = files(repo, "main");
    assert.ok(tree.includes("x.txt") && tree.includes("y.txt"), tree.join(","));
  });
});
