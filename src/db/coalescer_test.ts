import assert from "node:assert/strict";
import { allFulfilled, Coalescer, settle, type Settled, settleInTurn } from "./coalescer.ts";

/** A run function whose batches the test releases one by one. */
function gated() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const run = (items: number[]) => {
    batches.push(items);
    return new Promise<Settled<number>[]>((resolve) =>
      gates.push(() => resolve(allFulfilled(items.map((x) => x * 10))))
    );
  };
  const release = async () => {
    while (gates.length === 0) await new Promise((r) => setTimeout(r, 1));
    gates.shift()!();
  };
  return { batches, run, release };
}

Deno.test("Coalescer: items submitted together share one batch", async () => {
  const { batches, run, release } = gated();
  const c = new Coalescer(run, { maxBatch: 8 });
  const out = Promise.all([c.submit(1), c.submit(2), c.submit(3)]);
  await release();
  assert.deepEqual(await out, [10, 20, 30]);
  assert.deepEqual(batches, [[1, 2, 3]]);
});

Deno.test("Coalescer: an idle coalescer sends an item at once, later items wait for the next batch", async () => {
  const { batches, run, release } = gated();
  const c = new Coalescer(run, { maxBatch: 8 });
  const first = c.submit(1);
  await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(batches, [[1]], "the first item went out without waiting for others");
  const later = [c.submit(2), c.submit(3), c.submit(4)];
  assert.equal(c.waiting, 3);
  await release();
  assert.equal(await first, 10);
  await release();
  assert.deepEqual(await Promise.all(later), [20, 30, 40]);
  assert.deepEqual(batches, [[1], [2, 3, 4]]);
  assert.equal(c.waiting, 0);
});

Deno.test("Coalescer: maxBatch splits a long queue, in order", async () => {
  const { batches, run, release } = gated();
  const c = new Coalescer(run, { maxBatch: 2 });
  const all = Promise.all([1, 2, 3, 4, 5].map((x) => c.submit(x)));
  for (let i = 0; i < 3; i++) await release();
  assert.deepEqual(await all, [10, 20, 30, 40, 50]);
  assert.deepEqual(batches, [[1, 2], [3, 4], [5]]);
});

Deno.test("Coalescer: items with the same key never share a batch", async () => {
  const { batches, run, release } = gated();
  const c = new Coalescer(run, { maxBatch: 8, key: (x) => String(x % 2) });
  const all = Promise.all([1, 3, 2, 5].map((x) => c.submit(x)));
  for (let i = 0; i < 3; i++) await release();
  assert.deepEqual(await all, [10, 30, 20, 50]);
  assert.deepEqual(batches, [[1, 2], [3], [5]]);
});

Deno.test("Coalescer: a failing batch rejects its own items only, and the next batch still runs", async () => {
  let calls = 0;
  const c = new Coalescer(async (items: number[]) => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
    if (items.includes(2)) throw new Error("boom");
    return allFulfilled(items);
  }, { maxBatch: 2 });
  const results = await Promise.allSettled([1, 2, 3].map((x) => c.submit(x)));
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected", "fulfilled"]);
  assert.equal((results[0] as PromiseRejectedResult).reason.message, "boom");
  assert.equal(calls, 2);
  // Idle again: a new item goes out on its own.
  assert.equal(await c.submit(7), 7);
  assert.equal(calls, 3);
});

Deno.test("Coalescer: run settles each item on its own", async () => {
  const c = new Coalescer(
    (items: number[]) =>
      Promise.resolve(
        items.map((x): Settled<number> =>
          x % 2
            ? { status: "fulfilled", value: x }
            : { status: "rejected", reason: new Error(`odd one out: ${x}`) }
        ),
      ),
    { maxBatch: 8 },
  );
  const results = await Promise.allSettled([1, 2, 3].map((x) => c.submit(x)));
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.match((results[1] as PromiseRejectedResult).reason.message, /odd one out: 2/);
});

Deno.test("Coalescer: a run that throws synchronously rejects its batch and the next runs", async () => {
  let calls = 0;
  const c = new Coalescer((items: number[]) => {
    if (calls++ === 0) throw new Error("sync boom");
    return Promise.resolve(allFulfilled(items));
  }, { maxBatch: 8 });
  await assert.rejects(c.submit(1), /sync boom/);
  assert.equal(await c.submit(2), 2);
});

Deno.test("Coalescer: a key that throws rejects that item only", async () => {
  const batches: number[][] = [];
  const c = new Coalescer((items: number[]) => {
    batches.push(items);
    return Promise.resolve(allFulfilled(items));
  }, {
    maxBatch: 8,
    key: (x) => {
      if (x === 2) throw new Error("no key for 2");
      return String(x);
    },
  });
  const results = await Promise.allSettled([1, 2, 3].map((x) => c.submit(x)));
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.deepEqual(batches, [[1, 3]]);
  assert.equal(await c.submit(4), 4, "still working");
});

Deno.test("Coalescer: a run returning the wrong number of outputs rejects the batch", async () => {
  const c = new Coalescer((items: number[]) => Promise.resolve(allFulfilled(items.slice(1))), {
    maxBatch: 4,
  });
  await assert.rejects(
    Promise.all([c.submit(1), c.submit(2)]),
    /returned 1 outputs for 2 items/,
  );
});

Deno.test("Coalescer: refuses a maxBatch below 1", () => {
  assert.throws(
    () => new Coalescer((xs: number[]) => Promise.resolve(allFulfilled(xs)), { maxBatch: 0 }),
    /maxBatch is not an integer ≥ 1: current value is 0/,
  );
});

Deno.test("settleInTurn runs one item after the other and settles each; settle catches sync throws", async () => {
  const log: string[] = [];
  const results = await settleInTurn([1, 2, 3], async (x) => {
    log.push(`start ${x}`);
    await new Promise((r) => setTimeout(r, 3));
    log.push(`end ${x}`);
    if (x === 2) throw new Error("two fails");
    return x * 10;
  });
  assert.deepEqual(log, ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.deepEqual(await settle(() => 5), { status: "fulfilled", value: 5 });
  const thrown = await settle(() => {
    throw new Error("sync");
  });
  assert.equal(thrown.status, "rejected");
});
