import assert from "node:assert/strict";
import { MemoryPool } from "./memory_pool.ts";

const PAGE = 65536;

Deno.test("MemoryPool hands back a kept memory zero-filled", () => {
  const pool = new MemoryPool();
  const first = pool.take(2, 10);
  new Uint8Array(first.buffer).fill(0xaa);
  pool.give(first, 2, 10);
  const second = pool.take(2, 10);
  assert.equal(second, first, "the same memory, reused");
  assert.equal(second.buffer.byteLength, 2 * PAGE);
  assert.ok(new Uint8Array(second.buffer).every((b) => b === 0), "nothing of the last step left");
  assert.deepEqual([pool.created, pool.reused], [1, 1]);
});

Deno.test("MemoryPool never reuses a memory that grew past its initial size", () => {
  const pool = new MemoryPool();
  const grown = pool.take(1, 10);
  grown.grow(1);
  pool.give(grown, 1, 10);
  const next = pool.take(1, 10);
  assert.notEqual(next, grown);
  assert.equal(next.buffer.byteLength, PAGE, "a step always starts at the declared size");
});

Deno.test("MemoryPool keeps memories apart by size and maximum", () => {
  const pool = new MemoryPool();
  const a = pool.take(1, 10);
  pool.give(a, 1, 10);
  assert.notEqual(pool.take(1, 20), a, "another maximum gets its own memory");
  assert.notEqual(pool.take(2, 10), a);
  assert.equal(pool.take(1, 10), a);
});

Deno.test("MemoryPool keeps at most perSize memories and none above maxPages", () => {
  const pool = new MemoryPool({ perSize: 2, maxPages: 4 });
  const taken = [pool.take(1, 8), pool.take(1, 8), pool.take(1, 8)];
  for (const m of taken) pool.give(m, 1, 8);
  pool.take(1, 8);
  pool.take(1, 8);
  const created = pool.created;
  pool.take(1, 8);
  assert.equal(pool.created, created + 1, "the third was not kept");
  const big = pool.take(5, 8);
  pool.give(big, 5, 8);
  assert.notEqual(pool.take(5, 8), big, "above maxPages: not worth keeping");
});
