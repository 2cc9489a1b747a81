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
  assert.equal(pool.created, created + 1, "two kept, not three");
  const big = pool.take(5, 8);
  pool.give(big, 5, 8);
  assert.notEqual(pool.take(5, 8), big, "above maxPages: not worth keeping");
});

Deno.test("MemoryPool hands an any_size guest a grown memory, zero-filled, the smallest that fits", () => {
  const pool = new MemoryPool();
  const small = pool.take(1, 64, { reuse: "any_size" });
  const big = pool.take(1, 64, { reuse: "any_size" });
  big.grow(9);
  new Uint8Array(big.buffer).fill(7);
  pool.give(small, 1, 64, "any_size");
  pool.give(big, 1, 64, "any_size");
  assert.equal(pool.keptBytes, 11 * PAGE);
  assert.notEqual(pool.take(1, 64), small, "an any_size guest's memories are its own");
  assert.equal(pool.take(1, 64, { reuse: "any_size", expectBytes: 100 }), small);
  const got = pool.take(1, 64, { reuse: "any_size", expectBytes: 6 * PAGE });
  assert.equal(got, big, "a large step gets the memory an earlier one grew");
  assert.ok(new Uint8Array(got.buffer).every((b) => b === 0));
  assert.equal(pool.keptBytes, 0);
});

Deno.test("MemoryPool hands a grown memory neither to an exact guest nor to another any_size guest", () => {
  const pool = new MemoryPool();
  const grown = pool.take(1, 64, { reuse: "any_size", owner: "a" });
  grown.grow(2);
  pool.give(grown, 1, 64, "any_size", "a");
  assert.notEqual(pool.take(1, 64), grown);
  assert.notEqual(
    pool.take(1, 64, { reuse: "any_size", owner: "b" }),
    grown,
    "its size would tell b how far a grew it",
  );
  assert.equal(pool.take(1, 64, { reuse: "any_size", owner: "a" }), grown, "still there for a");
});

Deno.test("MemoryPool makes room for new memories by letting the largest kept ones go", () => {
  const pool = new MemoryPool({ maxBytes: 200 * PAGE, perSize: 4 });
  const limits = { initial: 1, maximum: 1024, reuse: "any_size" as const, owner: "g" };
  // Two large steps fill the byte budget with memories too large for small steps.
  const big = [pool.takeFor(limits, 1_000_000), pool.takeFor(limits, 1_000_000)];
  for (const m of big) m.grow(99); // 6.25 MiB: more than 4 MiB beyond a small step's need
  for (const m of big) pool.giveFor(m, limits);
  assert.equal(pool.keptBytes, 200 * PAGE);
  // Small steps: the first gets a fresh memory; giving it back evicts a large one, then it is reused.
  const first = pool.takeFor(limits, 100);
  pool.giveFor(first, limits);
  assert.notEqual(first, big[0]);
  assert.notEqual(first, big[1]);
  assert.equal(pool.keptBytes, 101 * PAGE);
  const created = pool.created;
  for (let i = 0; i < 20; i++) {
    const m = pool.takeFor(limits, 100);
    assert.equal(m, first);
    pool.giveFor(m, limits);
  }
  assert.equal(pool.created, created, "no fresh memory per step once the pool has adapted");
});

Deno.test("MemoryPool keeps no more than maxBytes in all", () => {
  const pool = new MemoryPool({ maxBytes: 3 * PAGE });
  const a = pool.take(2, 8);
  const b = pool.take(2, 8);
  pool.give(a, 2, 8);
  pool.give(b, 2, 8);
  assert.equal(pool.keptBytes, 2 * PAGE, "a made room for b");
  assert.equal(pool.take(2, 8), b);
  assert.notEqual(pool.take(2, 8), a, "a was let go");
  assert.equal(pool.keptBytes, 0);
});

Deno.test("MemoryPool gives a small step a fresh memory rather than one far larger than it needs", () => {
  const pool = new MemoryPool();
  const limits = { initial: 1, maximum: 1024, reuse: "any_size" as const, owner: "g" };
  const grown = pool.takeFor(limits, 1_000_000);
  grown.grow(200); // ~13 MiB, as a step on a 1 MB envelope leaves it
  pool.giveFor(grown, limits);
  const small = pool.takeFor(limits, 100);
  assert.notEqual(
    small,
    grown,
    "zero-filling 13 MiB after a 100-byte step costs more than it saves",
  );
  pool.giveFor(small, limits);
  assert.equal(pool.takeFor(limits, 100), small);
  assert.equal(pool.takeFor(limits, 800_000), grown, "the large step still finds the grown one");
});
