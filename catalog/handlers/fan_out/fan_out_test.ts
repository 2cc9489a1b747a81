import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runNative } from "../../native/run_native.ts";
import { batchId, handle, planBatches, WORKER_LIMIT } from "./fan_out.ts";
import { MAX_WORKERS } from "./config_schema.ts";

interface Cursor {
  batch_id: string;
  start_cursor: number;
  end_cursor: number;
  batch_size: number;
}
interface Outcome {
  type: string;
  worker_template_name?: string;
  worker_count?: number;
  cursor_configs?: Cursor[];
  total_items?: number;
}

function run(envelope: unknown) {
  return runNative(handle, JSON.stringify(envelope));
}

/** Runs a config over `items` in the context; returns the batch outcome. */
function split(items: unknown, config: Record<string, unknown>): Outcome {
  const out = run({
    context: { items },
    config: { items: ".context.items", worker_template_name: "work", ...config },
  });
  assert.ok(out.ok, JSON.stringify(out));
  return JSON.parse(out.resultJson).batch_processing_outcome;
}

function failure(envelope: unknown) {
  const out = run(envelope);
  assert.ok(!out.ok, `expected a failure, got ${JSON.stringify(out)}`);
  return out.failure;
}

Deno.test("fan_out splits an array into consecutive half-open cursor ranges", () => {
  const outcome = split([10, 20, 30, 40, 50, 60, 70], { batch_size: 3 });
  assert.deepEqual(outcome, {
    type: "create_batches",
    worker_template_name: "work",
    worker_count: 3,
    cursor_configs: [
      { batch_id: "001", start_cursor: 0, end_cursor: 3, batch_size: 3 },
      { batch_id: "002", start_cursor: 3, end_cursor: 6, batch_size: 3 },
      { batch_id: "003", start_cursor: 6, end_cursor: 7, batch_size: 1 },
    ],
    total_items: 7,
  });
});

Deno.test("fan_out makes full batches when the total is a multiple of batch_size", () => {
  const outcome = split(["a", "b", "c", "d"], { batch_size: 2 });
  assert.equal(outcome.worker_count, 2);
  assert.deepEqual(outcome.cursor_configs!.map((c) => c.batch_size), [2, 2]);
});

Deno.test("fan_out makes one batch of everything when batch_size exceeds the total", () => {
  const outcome = split([1, 2, 3], { batch_size: 1e15 });
  assert.deepEqual(outcome.cursor_configs, [
    { batch_id: "001", start_cursor: 0, end_cursor: 3, batch_size: 3 },
  ]);
});

Deno.test("fan_out grows the batch size to ceil(total / max_workers) when the batches exceed max_workers", () => {
  const outcome = split(Array.from({ length: 10 }, (_, i) => i), { batch_size: 2, max_workers: 3 });
  assert.equal(outcome.worker_count, 3);
  assert.deepEqual(outcome.cursor_configs!.map((c) => [c.start_cursor, c.end_cursor]), [
    [0, 4],
    [4, 8],
    [8, 10],
  ]);
});

Deno.test("fan_out keeps batch_size when max_workers is not reached", () => {
  const outcome = split(Array.from({ length: 10 }, (_, i) => i), { batch_size: 5, max_workers: 3 });
  assert.equal(outcome.worker_count, 2);
  assert.deepEqual(outcome.cursor_configs!.map((c) => c.batch_size), [5, 5]);
});

Deno.test("fan_out may make fewer workers than max_workers after growing the batch size", () => {
  // ceil(10 / 4) = 3 per batch gives 4 batches; ceil(10 / 6) = 2 gives 5 <= 6.
  const plan = (total: number, size: number, max: number) => ({ ...planBatches(total, size, max) });
  assert.deepEqual(plan(10, 1, 4), { batchSize: 3, workerCount: 4 });
  assert.deepEqual(plan(10, 1, 6), { batchSize: 2, workerCount: 5 });
  assert.deepEqual(plan(7, 1, 1), { batchSize: 7, workerCount: 1 });
  assert.deepEqual(plan(7, 3, 0), { batchSize: 3, workerCount: 3 });
});

Deno.test("fan_out pads batch ids to three digits and widens past 999", () => {
  assert.deepEqual([0, 8, 9, 98, 99, 998, 999, 1233].map(batchId), [
    "001",
    "009",
    "010",
    "099",
    "100",
    "999",
    "1000",
    "1234",
  ]);
  const outcome = split(Array.from({ length: 1001 }, () => 0), { batch_size: 1 });
  const ids = outcome.cursor_configs!.map((c) => c.batch_id);
  assert.equal(ids[0], "001");
  assert.equal(ids[999], "1000");
  assert.equal(ids[1000], "1001");
});

Deno.test("fan_out returns no_batches for an empty array", () => {
  assert.deepEqual(split([], { batch_size: 5 }), { type: "no_batches" });
  assert.deepEqual(split([], { batch_size: 5, max_workers: 2 }), { type: "no_batches" });
});

Deno.test("fan_out selects the array with jq over the whole envelope", () => {
  const out = run({
    context: { orders: [{ id: 1, ok: true }, { id: 2, ok: false }, { id: 3, ok: true }] },
    deps: { extra: { ids: [9] } },
    config: {
      items: "[.context.orders[] | select(.ok)] + .deps.extra.ids",
      batch_size: 2,
      worker_template_name: "w",
    },
  });
  assert.ok(out.ok);
  const outcome = JSON.parse(out.resultJson).batch_processing_outcome as Outcome;
  assert.equal(outcome.total_items, 3);
  assert.equal(outcome.worker_count, 2);
});

Deno.test("fan_out fails with items_not_array, not retryable, when the selection is not an array", () => {
  for (
    const [value, type] of [[null, "null"], [{ a: 1 }, "object"], ["x", "string"], [3, "number"], [
      true,
      "boolean",
    ]]
  ) {
    const f = failure({
      context: { items: value },
      config: { items: ".context.items", batch_size: 1, worker_template_name: "w" },
    });
    assert.equal(f.code, "items_not_array");
    assert.equal(f.retryable, false);
    assert.deepEqual(f.details, { field: "config.items", type });
  }
});

Deno.test("fan_out fails with jq_cardinality when the items filter produces other than one value", () => {
  for (const items of ["empty", ".context.items[]"]) {
    const f = failure({
      context: { items: [[1], [2]] },
      config: { items, batch_size: 1, worker_template_name: "w" },
    });
    assert.equal(f.code, "jq_cardinality");
    assert.equal(f.retryable, false);
  }
});

Deno.test("fan_out reports jq syntax and runtime errors in config.items", () => {
  const syntax = failure({
    config: { items: ".context.items |", batch_size: 1, worker_template_name: "w" },
  });
  assert.equal(syntax.code, "jq_syntax");
  assert.equal((syntax.details as { field: string }).field, "config.items");
  const runtime = failure({
    context: { items: "text" },
    config: { items: ".context.items[0]", batch_size: 1, worker_template_name: "w" },
  });
  assert.equal(runtime.code, "jq_runtime");
  assert.equal(runtime.retryable, false);
});

Deno.test("fan_out rejects invalid configs with config_invalid before evaluating anything", () => {
  const bad = [
    {},
    { items: ".a", batch_size: 0, worker_template_name: "w" },
    { items: ".a", batch_size: 1.5, worker_template_name: "w" },
    { items: ".a", batch_size: "2", worker_template_name: "w" },
    { items: ".a", batch_size: 2 },
    { items: ".a", batch_size: 2, worker_template_name: "" },
    { items: "", batch_size: 2, worker_template_name: "w" },
    { items: ".a", batch_size: 2, worker_template_name: "w", max_workers: 0 },
    { items: ".a", batch_size: 2, worker_template_name: "w", max_workers: MAX_WORKERS + 1 },
    { items: ".a", batch_size: 2, worker_template_name: "w", extra: true },
  ];
  for (const config of bad) {
    const f = failure({ context: { a: [1] }, config });
    assert.equal(f.code, "config_invalid", JSON.stringify(config));
    assert.equal(f.retryable, false);
    assert.ok(Array.isArray((f.details as { errors: unknown[] }).errors));
  }
});

Deno.test("fan_out fails with too_many_batches past the worker limit unless max_workers bounds it", () => {
  assert.equal(WORKER_LIMIT, MAX_WORKERS);
  const items = Array.from({ length: WORKER_LIMIT + 1 }, () => 0);
  const f = failure({
    context: { items },
    config: { items: ".context.items", batch_size: 1, worker_template_name: "w" },
  });
  assert.equal(f.code, "too_many_batches");
  assert.equal(f.retryable, false);
  assert.deepEqual(f.details, {
    worker_count: WORKER_LIMIT + 1,
    limit: WORKER_LIMIT,
    total_items: WORKER_LIMIT + 1,
  });
  const bounded = split(items, { batch_size: 1, max_workers: WORKER_LIMIT });
  assert.equal(bounded.worker_count, WORKER_LIMIT / 2 + 1);
  assert.equal(split(items.slice(1), { batch_size: 1 }).worker_count, WORKER_LIMIT);
});

Deno.test("fan_out cursors cover every index exactly once within the limits (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3000 }),
      fc.integer({ min: 1, max: 5000 }),
      fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
      (total, batchSize, maxWorkers) => {
        const config: Record<string, unknown> = { batch_size: batchSize };
        if (maxWorkers !== undefined) config.max_workers = maxWorkers;
        const o = split(Array.from({ length: total }, () => 0), config);
        const cursors = o.cursor_configs!;
        assert.equal(o.total_items, total);
        assert.equal(o.worker_count, cursors.length);
        if (maxWorkers !== undefined) assert.ok(cursors.length <= maxWorkers);
        let next = 0;
        cursors.forEach((c, i) => {
          assert.equal(c.start_cursor, next);
          assert.ok(c.end_cursor > c.start_cursor);
          assert.equal(c.batch_size, c.end_cursor - c.start_cursor);
          assert.equal(Number(c.batch_id), i + 1);
          // Every batch but the last is full, and none exceeds the configured size
          // unless max_workers made it grow.
          if (i < cursors.length - 1) assert.equal(c.batch_size, cursors[0].batch_size);
          if (maxWorkers === undefined) assert.ok(c.batch_size <= batchSize);
          next = c.end_cursor;
        });
        assert.equal(next, total);
      },
    ),
    { seed: 42, numRuns: 300 },
  );
});

Deno.test("fan_out examples produce their documented outcomes", async () => {
  const dir = new URL("./examples/", import.meta.url);
  let count = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".json")) continue;
    const example = JSON.parse(await Deno.readTextFile(new URL(entry.name, dir)));
    const out = run(example.envelope);
    if ("result" in example.expect) {
      assert.ok(out.ok, `${entry.name}: ${JSON.stringify(out)}`);
      assert.deepEqual(JSON.parse(out.resultJson), example.expect.result, entry.name);
    } else {
      assert.ok(!out.ok, entry.name);
      const { code, retryable, details } = example.expect.failure;
      assert.deepEqual({
        code: out.failure.code,
        retryable: out.failure.retryable,
        details: out.failure.details,
      }, {
        code,
        retryable,
        details,
      }, entry.name);
    }
    count++;
  }
  assert.ok(count >= 3);
});
