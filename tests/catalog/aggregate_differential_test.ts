// The aggregate handler's wasm build against its native build on generated
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

const NAME = "aggregate";
const STEP_NAMES = ["a", "b", "c", "batch_001", "batch_002", "approve", "x y", "é"];

const number = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1.5, 1e308, -1e308, 5e-324),
);
const json = fc.jsonValue({ maxDepth: 3 });
/** Dependency results shaped like what the configs below select, and some not. */
const depResult = fc.oneof(
  number,
  fc.record({ n: number, ok: fc.boolean() }, { requiredKeys: ["ok"] }),
  fc.record({ items: fc.array(json, { maxLength: 4 }), n: number }),
  fc.array(number, { maxLength: 5 }),
  fc.dictionary(fc.constantFrom("k", "n", "z", "a"), json, { maxKeys: 3 }),
  json,
);
const stepName = fc.oneof(fc.constantFrom(...STEP_NAMES), fc.string({ maxLength: 6 }));
const deps = fc.oneof(
  { weight: 12, arbitrary: fc.dictionary(stepName, depResult, { maxKeys: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, [], "deps", 3) },
);

const MODES = ["merge", "concat", "sum", "count", "min", "max", "reduce"];
const PATHS = [
  ".",
  ".n",
  ".items",
  ".n // 0",
  "select(.ok) | .n",
  ".[]?",
  "numbers",
  "objects",
  "arrays",
  "keys",
  "tostring",
  ".n |",
  'error("bad dependency")',
  "$undefined",
  "input",
  "[.n, .ok]",
  "..",
];
const REDUCERS = [
  "add",
  "length",
  "map(type)",
  "sort",
  "empty",
  ".[]",
  "add / length",
  "group_by(type) | map(length)",
  "[.[] | numbers] | max",
  "unique",
  "map(",
  ".[0].n.x",
  "reverse | first",
];
const validConfig = fc.record(
  {
    mode: fc.constantFrom(...MODES),
    steps: fc.uniqueArray(stepName, { maxLength: 4 }),
    path: fc.constantFrom(...PATHS),
    reducer: fc.constantFrom(...REDUCERS),
    missing: fc.constantFrom("error", "skip"),
  },
  { requiredKeys: ["mode", "reducer"] },
).map(({ reducer, ...c }) =>
  (c.mode === "reduce" ? { ...c, reducer } : c) as Record<string, unknown>
);

/** One way to break a valid config. */
const MUTATIONS: ((c: Record<string, unknown>) => Record<string, unknown>)[] = [
  ({ mode: _, ...c }) => c,
  (c) => ({ ...c, mode: "average" }),
  (c) => ({ ...c, mode: 3 }),
  (c) => ({ ...c, extra: true }),
  (c) => ({ ...c, steps: "a" }),
  (c) => ({ ...c, steps: [1] }),
  (c) => ({ ...c, steps: ["a", "b", "a"] }),
  (c) => ({ ...c, path: "" }),
  (c) => ({ ...c, path: 7 }),
  (c) => ({ ...c, mode: "sum", reducer: "add" }),
  ({ reducer: _, ...c }) => ({ ...c, mode: "reduce" }),
  (c) => ({ ...c, mode: "reduce", reducer: "" }),
  (c) => ({ ...c, missing: "ignore" }),
];
const config = fc.oneof(
  { weight: 5, arbitrary: validConfig },
  {
    weight: 1,
    arbitrary: fc.tuple(validConfig, fc.integer({ min: 0, max: MUTATIONS.length - 1 })).map((
      [c, i],
    ) => MUTATIONS[i](c)),
  },
);

Deno.test("aggregate: the wasm and native builds agree on 500 generated envelopes and configs", async () => {
  const h = await loadHandler(NAME);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(
      deps,
      config,
      json,
      async (depsValue, configValue, context) => {
        const envelope = {
          context,
          deps: depsValue,
          step: { name: "aggregate", attempts: 1, max_attempts: 3, inputs: {} },
          config: configValue,
        };
        const both = await runBoth(h, envelope);
        assertSameOutcome(both, JSON.stringify(envelope).slice(0, 400));
        const key = both.native.ok ? "ok" : both.native.failure.code;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      },
    ),
    { seed: 42, numRuns: 500 },
  );
  // The generators must reach successes and each failure path, or agreement says little.
  for (
    const code of [
      "ok",
      "config_invalid",
      "dependency_missing",
      "aggregate_type",
      "jq_syntax",
      "jq_runtime",
      "jq_unsupported",
      "jq_cardinality",
      "envelope_invalid",
    ]
  ) {
    assert.ok(
      (seen.get(code) ?? 0) > 0,
      `no generated case reached ${code}: ${JSON.stringify([...seen])}`,
    );
  }
  assert.ok((seen.get("ok") ?? 0) >= 100, JSON.stringify([...seen]));
});

Deno.test("aggregate: both builds agree on number edge cases (overflow, -0, extremes)", async () => {
  const h = await loadHandler(NAME);
  const cases: [Record<string, unknown>, Record<string, unknown>][] = [
    [{ a: 1.7976931348623157e308, b: 1e308 }, { mode: "sum" }],
    [{ a: -1.7976931348623157e308, b: -1e308 }, { mode: "sum" }],
    [{ a: 0.1, b: 0.2, c: 0.3 }, { mode: "sum" }],
    [{ a: -0, b: 0 }, { mode: "min" }],
    [{ a: 5e-324, b: -5e-324 }, { mode: "max" }],
    [{ a: [1e21, 1e-7], b: [123456789012345680000] }, { mode: "concat" }],
    [{ a: 9007199254740993, b: 1 }, { mode: "sum" }],
  ];
  for (const [depsValue, cfg] of cases) {
    assertSameOutcome(
      await runBoth(h, { context: {}, deps: depsValue, config: cfg }),
      JSON.stringify(depsValue),
    );
  }
});

Deno.test("aggregate: the examples give their documented outcomes in both builds", async () => {
  await assertExamples(await loadHandler(NAME));
});

Deno.test("aggregate: the built module runs in a sandbox process under its manifest", async () => {
  const h = await loadHandler(NAME);
  const manifest = await handlerJson(NAME, "manifest.json");
  const runtime = createRuntime();
  try {
    const guest = await runtime.load(h.guest.bytes, manifest, { name: NAME });
    const deps = Object.fromEntries(
      Array.from(
        { length: 2000 },
        (_, i) => [`process_${String(i + 1).padStart(3, "0")}`, { n: i, tags: ["t"] }],
      ),
    );
    const outcome = await runtime.execute(guest, {
      context: {},
      deps,
      config: { mode: "sum", path: ".n" },
    });
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    assert.deepEqual(outcome.result, {
      result: (1999 * 2000) / 2,
      count: 2000,
      steps: Object.keys(deps),
    });

    const failed = await runtime.execute(guest, { deps: { a: 1 }, config: { mode: "merge" } });
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "handler_error");
    assert.equal(failed.error?.details?.guest_code, "aggregate_type");
    assert.equal(failed.error?.retryable, false);
  } finally {
    await runtime.close();
  }
});

Deno.test("aggregate: 1 MB envelopes run under the manifest with at least 2x memory headroom", async () => {
  const h = await loadHandler(NAME);
  const limit = await manifestMemoryBytes(h);
  // Dense arrays of small numbers are the most values per byte: the worst case for memory.
  const dense = (n: number) => Array.from({ length: n }, (_, i) => i % 10);
  const envelopes = [
    { deps: { a: dense(250_000), b: dense(250_000) }, config: { mode: "concat" } },
    {
      deps: { a: dense(250_000), b: dense(250_000) },
      config: { mode: "reduce", reducer: "add | map(. + 1) | sort | length" },
    },
    {
      deps: Object.fromEntries(Array.from({ length: 25_000 }, (_, i) => [`s${i}`, { v: i }])),
      config: { mode: "merge" },
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
