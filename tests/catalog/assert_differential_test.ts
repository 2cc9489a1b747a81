// The assert handler's wasm build against its native build on generated
// envelopes and configs (valid and invalid): both must give the same result
// or the same coded failure (message, failed indexes and results included).
// Also the examples through both builds, and the built module in a real
// sandbox process under its manifest.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  assertExamples,
  assertSameOutcome,
  type HandlerExample,
  handlerJson,
  loadHandler,
  runBoth,
} from "../support/catalog_harness.ts";
import { createRuntime } from "../../src/create_runtime.ts";

const NAME = "assert";

const number = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e21, 5e-324, 1.7976931348623157e308),
);
const json = fc.jsonValue({ maxDepth: 3 });
const item = fc.record({
  id: fc.string({ maxLength: 6 }),
  price: number,
  qty: fc.integer({ min: -1, max: 9 }),
}, { requiredKeys: ["id"] });
/** Contexts shaped like what the conditions below read, and some not. */
const context = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      a: json,
      n: number,
      s: fc.string({ maxLength: 12 }),
      flag: fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: json }),
      tier: fc.constantFrom("gold", "standard", null),
      items: fc.array(item, { maxLength: 5 }),
    }, { requiredKeys: [] }),
  },
  { weight: 1, arbitrary: json },
);
const envelope = (config: unknown) =>
  fc.record({
    context,
    deps: fc.dictionary(fc.constantFrom("load", "fetch_user", "é"), json, { maxKeys: 3 }),
    step: fc.record({
      name: fc.constantFrom("guard"),
      attempts: fc.integer({ min: 0, max: 3 }),
      max_attempts: fc.constant(3),
      inputs: json,
    }),
    config: fc.constant(config),
  });

/** Conditions that produce one boolean for most contexts. */
const BOOLEAN_CONDITIONS = [
  ".context.flag",
  ".context.n > 0",
  "(.context.items | length) > 2",
  '.context.s | startswith("a")',
  "any(.context.items[]?; .qty > 5)",
  "all(.context.items[]?; .price >= 0)",
  '.context | has("a")',
  ".context.a == null",
  '(.context.a | type) == "object"',
  '.context.tier == "gold"',
  "true",
  "false",
  ".step.attempts < .step.max_attempts",
  "(.deps | length) > 0",
  "([.context.items[]?.qty] | add) > 3",
  "(.context.s | length) < 5",
  ".context.flag | not",
  '.context.tier | IN("gold", "standard")',
  "(.context.n // 0) * 2 >= 10",
];
/** Conditions that fail one way or another. */
const BAD_CONDITIONS = [
  ".context.n",
  ".context.s",
  ".context.items",
  "null",
  "empty",
  ".context.items[]? | .qty > 0",
  "true, false",
  'error("no")',
  ".context.s + 1 > 0",
  ".a |",
  "now > 0",
  "$ENV.X == 1",
  "input == 1",
];
const condition = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...BOOLEAN_CONDITIONS) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_CONDITIONS) },
);
const validConfig = fc.record({
  conditions: fc.array(condition, { minLength: 1, maxLength: 5 }),
  quantifier: fc.constantFrom("all", "any", "none"),
  message: fc.string({ minLength: 1, maxLength: 40 }),
}, { requiredKeys: ["conditions"] }) as fc.Arbitrary<Record<string, unknown>>;
/** One way to break a valid config. */
const MUTATIONS: ((c: Record<string, unknown>) => unknown)[] = [
  ({ conditions: _, ...c }) => c,
  (c) => ({ ...c, conditions: [] }),
  (c) => ({ ...c, conditions: "true" }),
  (c) => ({ ...c, conditions: [""] }),
  (c) => ({ ...c, conditions: [true] }),
  (c) => ({ ...c, quantifier: "most" }),
  (c) => ({ ...c, message: "" }),
  (c) => ({ ...c, message: "m".repeat(1001) }),
  (c) => ({ ...c, extra: 1 }),
];
const config = fc.oneof(
  { weight: 6, arbitrary: validConfig },
  {
    weight: 1,
    arbitrary: fc.tuple(validConfig, fc.nat({ max: MUTATIONS.length - 1 })).map(([c, i]) =>
      MUTATIONS[i](c)
    ),
  },
);

Deno.test("assert: the wasm and native builds agree on 500 generated envelopes and configs", async () => {
  const h = await loadHandler(NAME);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(config.chain(envelope), async (env) => {
      const both = await runBoth(h, env);
      assertSameOutcome(both, JSON.stringify(env).slice(0, 400));
      const key = both.native.ok ? "ok" : both.native.failure.code;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }),
    { seed: 42, numRuns: 500 },
  );
  // The generators must reach passing and failing assertions and each failure path.
  const codes = [
    "ok",
    "assertion_failed",
    "assert_not_boolean",
    "config_invalid",
    "jq_syntax",
    "jq_unsupported",
    "jq_runtime",
    "jq_cardinality",
  ];
  for (const code of codes) {
    assert.ok((seen.get(code) ?? 0) > 0, `no case reached ${code}: ${JSON.stringify([...seen])}`);
  }
  assert.ok((seen.get("ok") ?? 0) >= 80, JSON.stringify([...seen]));
  assert.ok((seen.get("assertion_failed") ?? 0) >= 80, JSON.stringify([...seen]));
});

Deno.test("assert: the examples give their documented outcomes in both builds", async () => {
  await assertExamples(await loadHandler(NAME));
});

Deno.test("assert: the built module runs in a sandbox process under its manifest, 1 MB envelopes included", async () => {
  const h = await loadHandler(NAME);
  const manifest = await handlerJson(NAME, "manifest.json");
  const runtime = createRuntime();
  try {
    const guest = await runtime.load(h.guest.bytes, manifest, { name: NAME });
    const example = await handlerJson<HandlerExample>(NAME, "examples/totals_hold.json");
    const outcome = await runtime.execute(guest, example.envelope);
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    assert.deepEqual(outcome.result, example.expect.result);

    // About 1 MB of items under the manifest's memory limit.
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      id: `item-${i}`,
      price: (i % 97) + 0.25,
      qty: (i % 7) + 1,
      note: "x".repeat(50),
    }));
    const big = {
      context: { items },
      config: {
        conditions: [
          "(.context.items | length) == 10000",
          "all(.context.items[]; .price > 0)",
          "(.context.items | map(.qty) | add) > 1e6",
        ],
      },
    };
    assert.ok(JSON.stringify(big).length > 1_000_000);
    const large = await runtime.execute(guest, big);
    assert.equal(large.status, "failed");
    assert.equal(large.error?.details?.guest_code, "assertion_failed");
    assert.deepEqual(large.error?.details?.guest_details, {
      results: [true, true, false],
      failed: [2],
    });
    assert.equal(large.error?.retryable, false);
  } finally {
    await runtime.close();
  }
});
