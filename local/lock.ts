// One holder at a time on this machine for a cache entry (a tool build, an image layer): a lock file created
// exclusively, holding the holder's pid. A lock whose process is gone is taken over.
import { promises as fs } from "node:fs";
import * as path from "node:path";

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Run `fn` holding the lock file `lock`. While another live process holds it, `onWait(holderPid)` is called once and
 * the lock is polled every `pollMs`. A lock without a readable pid is stale after 10 s.
 */
export async function withFileLock<T>(lock: string, onWait: (holder: number) => void, fn: () => Promise<T>, pollMs = 1000): Promise<T> {
  await fs.mkdir(path.dirname(lock), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      const handle = await fs.open(lock, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number((await fs.readFile(lock, "utf8").catch(() => "")).trim());
      const age = Date.now() - ((await fs.stat(lock).catch(() => undefined))?.mtimeMs ?? 0);
      if ((holder && !pidAlive(holder)) || (!holder && age > 10_000)) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (!announced) onWait(holder);
      announced = true;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}
