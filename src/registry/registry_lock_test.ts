import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { acquireRegistryLock } from "./registry_lock.ts";
import { RegistryError } from "./registry_error.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "registry_lock_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("acquireRegistryLock() lets one holder in at a time and removes the file on release", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/registry.lock`;
    const events: string[] = [];
    const first = await acquireRegistryLock(path);
    const info = JSON.parse(await Deno.readTextFile(path));
    assert.equal(info.pid, Deno.pid);
    assert.match(info.token, /^[0-9a-f-]{36}$/);
    const second = acquireRegistryLock(path).then((lock) => {
      events.push("second acquired");
      return lock;
    });
    await sleep(100);
    events.push("first releasing");
    await first.release();
    const lock = await second;
    assert.deepEqual(events, ["first releasing", "second acquired"]);
    assert.notEqual(JSON.parse(await Deno.readTextFile(path)).token, info.token);
    await lock.release();
    assert.equal(await exists(path), false);
    await lock.release(); // releasing twice is harmless
  });
});

Deno.test("acquireRegistryLock() serializes many concurrent holders", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/registry.lock`;
    let inside = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      const lock = await acquireRegistryLock(path);
      try {
        inside++;
        most = Math.max(most, inside);
        await sleep(5);
        inside--;
      } finally {
        await lock.release();
      }
    }));
    assert.equal(most, 1);
    assert.equal(await exists(path), false);
  });
});

Deno.test("acquireRegistryLock() fails with registry_locked when a live holder keeps the lock too long", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/registry.lock`;
    const holder = await acquireRegistryLock(path);
    try {
      await assert.rejects(acquireRegistryLock(path, { timeoutMs: 150 }), (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.equal(error.code, "registry_locked");
        assert.equal(error.retryable, true);
        assert.equal(error.details.path, path);
        assert.equal(error.details.pid, Deno.pid);
        assert.ok((error.details.waited_ms as number) >= 150);
        return true;
      });
    } finally {
      await holder.release();
    }
  });
});

Deno.test("acquireRegistryLock() breaks a lock whose holder stopped its heartbeat", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/registry.lock`;
    // What a publisher that was killed while holding the lock leaves behind.
    await Deno.writeTextFile(path, JSON.stringify({ token: "dead", pid: 999999 }));
    const old = new Date(Date.now() - 60_000);
    await Deno.utime(path, old, old);
    const lock = await acquireRegistryLock(path, { staleMs: 30_000, timeoutMs: 5_000 });
    assert.notEqual(JSON.parse(await Deno.readTextFile(path)).token, "dead");
    await lock.release();
    const leftovers = [];
    for await (const item of Deno.readDir(dir)) leftovers.push(item.name);
    assert.deepEqual(leftovers, []);
  });
});

Deno.test("acquireRegistryLock() breaks an empty stale lock left by a holder that died before writing", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/registry.lock`;
    await Deno.writeTextFile(path, "");
    const old = new Date(Date.now() - 60_000);
    await Deno.utime(path, old, old);
    const lock = await acquireRegistryLock(path, { timeoutMs: 5_000 });
    await lock.release();
    assert.equal(await exists(path), false);
  });
});

Deno.test("acquireRegistryLock() keeps a held lock fresh with a heartbeat so waiters do not break it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/registry.lock`;
    // The heartbeat runs every staleMs / 3: a stall of the holder longer than 2/3 of staleMs
    // would let the waiter break a live lock, so staleMs leaves room for a loaded machine.
    const staleMs = 2000;
    const holder = await acquireRegistryLock(path, { staleMs });
    let released = false;
    const waiter = acquireRegistryLock(path, { staleMs, timeoutMs: 30_000 }).then((lock) => {
      assert.equal(released, true, "the waiter broke a lock whose holder was alive");
      return lock;
    });
    await sleep(staleMs * 2);
    released = true;
    await holder.release();
    await (await waiter).release();
  });
});

Deno.test("release() leaves alone a lock that another publisher took over", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/registry.lock`;
    const lock = await acquireRegistryLock(path);
    await Deno.writeTextFile(path, JSON.stringify({ token: "someone-else" }));
    await lock.release();
    assert.equal(JSON.parse(await Deno.readTextFile(path)).token, "someone-else");
  });
});

Deno.test("acquireRegistryLock() rejects nonsensical timings with a RangeError", async () => {
  await assert.rejects(acquireRegistryLock("/nonexistent/x.lock", { staleMs: 0 }), RangeError);
  await assert.rejects(acquireRegistryLock("/nonexistent/x.lock", { timeoutMs: -1 }), RangeError);
});
