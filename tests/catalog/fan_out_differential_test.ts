// The fan_out handler's wasm build against its native build on generated
// envelopes and configs (valid and invalid): both must give the same result
// or the same coded failure. Also the examples through both builds, and the
// built module in a real sandbox process.
//
// The AssemblyScript compiler must load before the portable runtime (both
// install the same globals; the compiler only when they are absent), so the
// harness comes in by dynamic import.
await import("assemblyscript");
const {
  assertExamples,
  assertSameOutcome,
  handlerJson,
  loadHandler,
  manifestMemoryBytes,
  runBoth,
} = await import(
  "../support/catalog_harness.ts"
);
const { createRuntime } = await import("../../src/create_runtime.ts");
import assert from "node:assert/strict";
import fc from "fast-check";

const NAME = "fan_out";

const json = fc.jsonValue({ maxDepth: 2 });
const context = fc.record({
  items: fc.oneof(
    { weight: 6, arbitrary: fc.array(json, { maxLength: 60 }) },
    { weight: 1, arbitrary: json },
  ),
  other: json,
}, { requiredKeys: [] });
const deps = fc.oneof(
  fc.dictionary(
    fc.constantFrom("load", "a", "b"),
    fc.record({ rows: fc.array(fc.integer(), { maxLength: 40 }) }),
  ),
  json,
);

const ITEMS = [
  ".context.items",
  ".context.items",
  ".context.other",
  ".deps.load.rows",
  "[.context.items[]? | numbers]",
  ".context.items | .[1:]",
  "[range(0; 25)]",
  ".context.items[]",
  "empty",
  ".context.items |",
  'error("no items")',
  "input",
  "$nope",
  ".context.items | length",
];
const validConfig = fc.record(
  {
    items: fc.constantFrom(...ITEMS),
    batch_size: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1, max: 30 }) },
      { weight: 1, arbitrary: fc.constantFrom(1, 1e15, 9007199254740991) },
    ),
    worker_template_name: fc.oneof(
      fc.constantFrom("process_batch", "w"),
      fc.string({ minLength: 1, maxLength: 12 }),
    ),
    max_workers: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(1, 10000)),
  },
  { requiredKeys: ["items", "batch_size", "worker_template_name"] },
);

/** One way to break a valid config. */
const MUTATIONS: ((c: Record<string, unknown>) => Record<string, unknown>)[] = [
  ({ items: _, ...c }) => c,
  ({ batch_size: _, ...c }) => c,
  ({ worker_template_name: _, ...c }) => c,
  (c) => ({ ...c, items: "" }),
  (c) => ({ ...c, items: 3 }),
  (c) => ({ ...c, batch_size: 0 }),
  (c) => ({ ...c, batch_size: -2 }),
  (c) => ({ ...c, batch_size: 1.5 }),
  (c) => ({ ...c, batch_size: "3" }),
  (c) => ({ ...c, batch_size: 1e300 }),
  (c) => ({ ...c, worker_template_name: "" }),
  (c) => ({ ...c, worker_template_name: ["w"] }),
  (c) => ({ ...c, max_workers: 0 }),
  (c) => ({ ...c, max_workers: 10001 }),
  (c) => ({ ...c, max_workers: 2.5 }),
  (c) => ({ ...c, extra: null }),
];
/** Large selections around the worker limit (10000). */
const bulkConfig = fc.record(
  {
    items: fc.constantFrom("[range(0; 10000)]", "[range(0; 10001)]", "[range(0; 20001)]"),
    batch_size: fc.constantFrom(1, 2, 3),
    worker_template_name: fc.constant("w"),
    max_workers: fc.integer({ min: 1, max: 10000 }),
  },
  { requiredKeys: ["items", "batch_size", "worker_template_name"] },
);
const config = fc.oneof(
  { weight: 10, arbitrary: validConfig },
  { weight: 1, arbitrary: bulkConfig },
  {
    weight: 2,
    arbitrary: fc.tuple(validConfig, fc.integer({ min: 0, max: MUTATIONS.length - 1 })).map((
      [c, i],
    ) => MUTATIONS[i](c)),
  },
);

Deno.test("fan_out: the wasm and native builds agree on 400 generated envelopes and configs", async () => {
  const h = await loadHandler(NAME);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(context, deps, config, async (contextValue, depsValue, configValue) => {
      const envelope = {
        context: contextValue,
        deps: depsValue,
        step: { name: "fan_out", attempts: 1, max_attempts: 3, inputs: {} },
        config: configValue,
      };
      const both = await runBoth(h, envelope);
      assertSameOutcome(both, JSON.stringify(envelope).slice(0, 400));
      const key = both.native.ok
        ? JSON.parse(both.native.resultJson).batch_processing_outcome.type
        : both.native.failure.code;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }),
    { seed: 42, numRuns: 400 },
  );
  // The generators must reach both outcomes and each failure path, or agreement says little.
  for (
    const code of [
      "create_batches",
      "no_batches",
      "config_invalid",
      "items_not_array",
      "too_many_batches",
      "jq_syntax",
      "jq_runtime",
      "jq_unsupported",
      "jq_cardinality",
    ]
  ) {
    assert.ok(
      (seen.get(code) ?? 0) > 0,
      `no generated case reached ${code}: ${JSON.stringify([...seen])}`,
    );
  }
  assert.ok((seen.get("create_batches") ?? 0) >= 100, JSON.stringify([...seen]));
});

Deno.test("fan_out: the examples give their documented outcomes in both builds", async () => {
  await assertExamples(await loadHandler(NAME));
});

Deno.test("fan_out: the built module runs in a sandbox process under its manifest", async () => {
  const h = await loadHandler(NAME);
  const manifest = await handlerJson(NAME, "manifest.json");
  const runtime = createRuntime();
  try {
    const guest = await runtime.load(h.guest.bytes, manifest, { name: NAME });
    const orders = Array.from({ length: 25_000 }, (_, i) => ({ id: i, sku: `sku-${i % 97}` }));
    const outcome = await runtime.execute(guest, {
      context: { orders },
      config: {
        items: ".context.orders",
        batch_size: 1000,
        worker_template_name: "process_orders",
        max_workers: 10,
      },
    });
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    const result = outcome.result as {
      batch_processing_outcome: {
        worker_count: number;
        total_items: number;
        cursor_configs: { batch_size: number }[];
      };
    };
    assert.equal(result.batch_processing_outcome.total_items, 25_000);
    assert.equal(result.batch_processing_outcome.worker_count, 10);
    assert.deepEqual(
      new Set(result.batch_processing_outcome.cursor_configs.map((c) => c.batch_size)),
      new Set([2500]),
    );

    const failed = await runtime.execute(guest, {
      context: { orders: "none" },
      config: { items: ".context.orders", batch_size: 10, worker_template_name: "w" },
    });
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.details?.guest_code, "items_not_array");
    assert.equal(failed.error?.retryable, false);
  } finally {
    await runtime.close();
  }
});

Deno.test("fan_out: 1 MB envelopes run under the manifest with at least 2x memory headroom", async () => {
  const h = await loadHandler(NAME);
  const limit = await manifestMemoryBytes(h);
  // Dense arrays of small numbers are the most values per byte: the worst case for memory.
  const items = Array.from({ length: 500_000 }, (_, i) => i % 10);
  const envelopes = [
    {
      context: { items },
      config: { items: ".context.items", batch_size: 50, worker_template_name: "w" },
    },
    {
      context: { items },
      config: {
        items: "[.context.items[] | select(. > 4)]",
        batch_size: 1,
        worker_template_name: "w",
        max_workers: 10000,
      },
    },
  ];
  for (const envelope of envelopes) {
    const both = await runBoth(h, envelope);
    assertSameOutcome(both, JSON.stringify(envelope.config));
    assert.equal(both.wasm.status, "completed", JSON.stringify(both.wasm.error));
    const used = both.wasm.metrics.memory_high_water_bytes;
    assert.ok(
      used * 2 <= limit,
      `${JSON.stringify(envelope.config)} used ${used} bytes of ${limit}`,
    );
  }
});
