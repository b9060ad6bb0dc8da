// Reading files from a branch with the same machinery that commits: a change that writes nothing
// makes no commit and reports the head it looked at.
import { commitToBranch, type GitTarget } from "../../bootstrap";

export async function readBranchFiles(target: GitTarget, paths: readonly string[]): Promise<{ head: string | undefined; files: Record<string, string | undefined> }> {
  const files: Record<string, string | undefined> = {};
  const result = await commitToBranch({
    ...target,
    author: { name: "mooring", email: "mooring@localhost" },
    message: "read only",
    change: async (tree) => {
      for (const p of paths) files[p] = await tree.read(p);
      return {};
    },
  });
  return { head: result.commit, files };
}
