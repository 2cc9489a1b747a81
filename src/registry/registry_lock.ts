/**
 * An exclusive lock file that serializes the registry's publishers, across
 * processes. Taking it is creating the file with `createNew` (the file
 * system decides the race). The holder touches the file periodically (a
 * heartbeat), so a lock whose file has not changed for `staleMs` belongs to
 * a publisher that died: it is broken and taken over. A live holder that
 * keeps it longer than the waiter's `timeoutMs` makes the waiter fail with
 * `registry_locked` instead of waiting forever.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { RegistryError } from "./registry_error.ts";

/** Options for {@link acquireRegistryLock}. */
export interface RegistryLockOptions {
  /** How long to wait for a live holder before failing with `registry_locked`. Default 10 000 ms. */
  timeoutMs?: number;
  /** A lock file unchanged for this long is stale and is broken. Default 30 000 ms. */
  staleMs?: number;
}

/** A held lock. Release it in a `finally`. */
export interface RegistryLock {
  /** The lock file. */
  readonly path: string;
  /** Stops the heartbeat and removes the lock file if it is still this holder's. */
  release(): Promise<void>;
}

/** What a holder writes into the lock file (for people and for stale-lock checks). */
interface LockInfo {
  token?: string;
  pid?: number;
  acquired_at?: string;
}

interface Holder {
  info: LockInfo;
  mtimeMs: number;
}

const encoder = new TextEncoder();

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const [stat, text] = await Promise.all([Deno.stat(path), Deno.readTextFile(path)]);
    let info: LockInfo = {};
    try {
      const parsed = JSON.parse(text);
      if (parsed !== null && typeof parsed === "object") info = parsed as LockInfo;
    } catch {
      // A holder that died between creating and writing the file leaves it empty.
    }
    return { info, mtimeMs: stat.mtime?.getTime() ?? 0 };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Moves a stale lock aside. If another waiter broke it and took the lock in
 * between, the file moved is that fresh lock: it is put back (unless a third
 * party took the place meanwhile, which the registry's no-clobber writes
 * tolerate: version records are never overwritten, lock or no lock).
 */
async function breakStale(path: string, stale: Holder): Promise<void> {
  const aside = `${path}.stale-${crypto.randomUUID()}`;
  try {
    await Deno.rename(path, aside);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  try {
    const moved = await readHolder(aside);
    if (moved && (moved.info.token !== stale.info.token || moved.mtimeMs !== stale.mtimeMs)) {
      try {
        await Deno.link(aside, path);
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      }
    }
  } finally {
    await Deno.remove(aside).catch(() => {});
  }
}

/**
 * Takes the lock at `path`, waiting while a live publisher holds it.
 * Throws `registry_locked` (retryable) after `timeoutMs`.
 *
 * @example
 * ```ts
 * import { acquireRegistryLock } from "./registry_lock.ts";
 * const dir = await Deno.makeTempDir();
 * const lock = await acquireRegistryLock(`${dir}/registry.lock`);
 * try {
 *   // ... write under the lock ...
 * } finally {
 *   await lock.release();
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function acquireRegistryLock(
  path: string,
  options: RegistryLockOptions = {},
): Promise<RegistryLock> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const staleMs = options.staleMs ?? 30_000;
  if (!(timeoutMs >= 0) || !(staleMs > 0)) {
    throw new RangeError(
      `Cannot take the registry lock as timeoutMs must be >= 0 and staleMs > 0: current values are ${timeoutMs} and ${staleMs}`,
    );
  }
  const token = crypto.randomUUID();
  const started = Date.now();
  let pause = 5;
  while (true) {
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(path, { createNew: true, write: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    if (file) {
      try {
        const info: LockInfo = { token, pid: Deno.pid, acquired_at: new Date().toISOString() };
        await file.write(encoder.encode(JSON.stringify(info)));
      } finally {
        file.close();
      }
      return holdLock(path, token, staleMs);
    }
    const holder = await readHolder(path);
    if (holder === undefined) continue; // released between our two looks
    const age = Date.now() - holder.mtimeMs;
    if (age > staleMs) {
      await breakStale(path, holder);
      continue;
    }
    const waited = Date.now() - started;
    if (waited >= timeoutMs) {
      throw new RegistryError(
        "registry_locked",
        `Cannot take the registry lock ${path} as another publisher (pid ${
          holder.info.pid ?? "unknown"
        }, since ${holder.info.acquired_at ?? "unknown"}) still holds it after ${waited} ms ` +
          `of waiting: a lock is broken only after ${staleMs} ms without a heartbeat`,
        {
          retryable: true,
          details: {
            path,
            pid: holder.info.pid,
            acquired_at: holder.info.acquired_at,
            waited_ms: waited,
            stale_ms: staleMs,
          },
        },
      );
    }
    await sleep(Math.min(pause, Math.max(1, timeoutMs - waited)));
    pause = Math.min(pause * 2, 100);
  }
}

function holdLock(path: string, token: string, staleMs: number): RegistryLock {
  const heartbeat = setInterval(() => {
    const now = new Date();
    Deno.utime(path, now, now).catch(() => {});
  }, Math.max(10, Math.floor(staleMs / 3)));
  // A publisher that is done otherwise must not be kept alive by its heartbeat.
  Deno.unrefTimer(heartbeat);
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      const holder = await readHolder(path);
      // Someone broke this lock as stale (we were paused too long): theirs now, leave it.
      if (holder?.info.token !== token) return;
      await Deno.remove(path).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    },
  };
}
