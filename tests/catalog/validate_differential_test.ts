// The validate handler's wasm build against its native build on generated
// envelopes and configs (valid and invalid): both must give the same result
// (coerced and filtered values included) or the same coded failure with the
// same schema errors. Also the examples through both builds, and the built
// module in a real sandbox process under its manifest.
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

const NAME = "validate";

const number = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1.5, 1e21, 1e-7, 5e-324, 1.7976931348623157e308),
);
const json = fc.jsonValue({ maxDepth: 3 });
/** Scalars that coercion turns into something else, and some it cannot. */
const coercible = fc.oneof(
  number,
  fc.constantFrom("42", " 12 ", "0x1F", "1e3", "", "true", "false", "abc", "1.5", "-0", "Infinity"),
  fc.boolean(),
  fc.constant(null),
);
const item = fc.record({
  id: fc.oneof(fc.string({ maxLength: 6 }), number),
  price: coercible,
  qty: coercible,
  tags: fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 3 }),
  extra: json,
}, { requiredKeys: ["id"] });
/** Contexts shaped like what the schemas below describe, and some not. */
const context = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      a: json,
      n: coercible,
      s: fc.oneof(fc.string({ maxLength: 12 }), coercible),
      flag: coercible,
      tier: fc.constantFrom("gold", "standard", "x", null),
      when: fc.constantFrom("2025-02-28", "2025-02-30", "not a date", "2024-02-29T10:00:00Z"),
      email: fc.constantFrom("a@example.com", "nope", "a@b"),
      items: fc.array(item, { maxLength: 5 }),
      nested: json,
    }, { requiredKeys: [] }),
  },
  { weight: 1, arbitrary: json },
);
const envelope = (config: unknown) =>
  fc.record({
    context,
    deps: fc.dictionary(fc.constantFrom("load", "fetch_user", "é"), json, { maxKeys: 3 }),
    step: fc.record({
      name: fc.constantFrom("check"),
      attempts: fc.integer({ min: 0, max: 3 }),
      max_attempts: fc.constant(3),
      inputs: json,
    }),
    config: fc.constant(config),
  });

const itemSchema = {
  type: "object",
  required: ["id"],
  properties: {
    id: { type: "string" },
    price: { type: "number", minimum: 0 },
    qty: { type: "integer" },
    tags: { type: "array", uniqueItems: true },
  },
  additionalProperties: false,
};
const VALID_SCHEMAS: unknown[] = [
  {},
  { type: "object" },
  {
    type: "object",
    properties: {
      n: { type: "number" },
      s: { type: "string", maxLength: 10 },
      flag: { type: "boolean" },
    },
  },
  {
    type: "object",
    required: ["items"],
    properties: { items: { type: "array", items: itemSchema } },
  },
  {
    type: "object",
    properties: {
      n: { type: "integer" },
      s: { type: "number" },
      flag: { type: ["null", "string"] },
      tier: { enum: ["gold", "standard"] },
    },
  },
  { type: "object", properties: { a: {}, n: {} }, additionalProperties: false },
  { type: "object", properties: { when: { format: "date" }, email: { format: "email" } } },
  { type: ["number", "string"] },
  { type: "integer" },
  { type: "array", items: { type: "integer" } },
  { type: "array", items: itemSchema },
  {
    $defs: { node: { type: ["object", "array", "number", "string", "boolean", "null"] } },
    $ref: "#/$defs/node",
  },
  {
    anyOf: [
      { type: "object", properties: { a: { type: "number" } }, additionalProperties: false },
      { type: "object", properties: { n: { type: "number" } }, additionalProperties: false },
    ],
  },
  {
    type: "object",
    properties: { a: {} },
    allOf: [{ properties: { n: {} } }],
    unevaluatedProperties: false,
  },
  {
    type: "array",
    prefixItems: [{ type: "object", properties: { qty: { type: "integer" } } }, {
      type: "object",
      properties: { qty: { type: "string" } },
    }],
  },
];
/** Invalid or unsupported schemas. */
const BAD_SCHEMAS: unknown[] = [
  { type: "foo" },
  { minLength: -1 },
  { $ref: "#/nope" },
  { properties: 3 },
  { items: [{}] },
  { $ref: "https://example.com/schema.json" },
  { $schema: "http://json-schema.org/draft-07/schema#" },
];
const SELECTS = [
  ".context",
  ".context",
  ".context.items",
  ".context.a",
  ".deps",
  "[.context.n, .context.s]",
  ".context | {n, s, flag}",
  "[.context.items[0], .context.items[0]]",
  ".context.n",
  ".context.nested",
  ".step",
  // Not exactly one output, runtime and compile failures.
  ".context.items[]?",
  "empty",
  'error("no value")',
  ".context |",
  "input",
];
const validConfig = fc.record({
  schema: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...VALID_SCHEMAS) },
    { weight: 1, arbitrary: fc.constantFrom(...BAD_SCHEMAS) },
  ),
  select: fc.constantFrom(...SELECTS),
  on_failure: fc.constantFrom("error", "warn", "skip"),
  coerce: fc.boolean(),
  filter_extra: fc.boolean(),
  assert_formats: fc.boolean(),
}, { requiredKeys: ["schema"] }) as fc.Arbitrary<Record<string, unknown>>;
/** One way to break a valid config. */
const MUTATIONS: ((c: Record<string, unknown>) => unknown)[] = [
  ({ schema: _, ...c }) => c,
  (c) => ({ ...c, schema: true }),
  (c) => ({ ...c, schema: [] }),
  (c) => ({ ...c, select: "" }),
  (c) => ({ ...c, on_failure: "ignore" }),
  (c) => ({ ...c, coerce: "yes" }),
  (c) => ({ ...c, filter_extra: 1 }),
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

Deno.test("validate: the wasm and native builds agree on 500 generated envelopes and configs", async () => {
  const h = await loadHandler(NAME);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(config.chain(envelope), async (env) => {
      const both = await runBoth(h, env);
      assertSameOutcome(both, JSON.stringify(env).slice(0, 400));
      const native = both.native;
      const key = native.ok
        ? `ok:${(JSON.parse(native.resultJson) as { valid: boolean }).valid}`
        : native.failure.code;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }),
    { seed: 42, numRuns: 500 },
  );
  // The generators must reach valid and invalid values and each failure path.
  const codes = [
    "ok:true",
    "ok:false",
    "validation_failed",
    "config_invalid",
    "schema_invalid",
    "schema_unsupported",
    "jq_syntax",
    "jq_unsupported",
    "jq_runtime",
    "jq_cardinality",
  ];
  for (const code of codes) {
    assert.ok((seen.get(code) ?? 0) > 0, `no case reached ${code}: ${JSON.stringify([...seen])}`);
  }
  assert.ok((seen.get("ok:true") ?? 0) >= 60, JSON.stringify([...seen]));
});

Deno.test("validate: both builds coerce and filter to the same values", async () => {
  const h = await loadHandler(NAME);
  const values = [
    "42",
    " 12 ",
    "0x1F",
    "1e3",
    "",
    "true",
    "0",
    "-0",
    "1e400",
    1e21,
    0.1,
    null,
    false,
  ];
  for (const type of ["string", "number", "integer", "boolean", "null", ["integer", "string"]]) {
    const both = await runBoth(h, {
      context: values,
      config: {
        schema: { type: "array", items: { type } },
        coerce: true,
        on_failure: "warn",
      },
    });
    assertSameOutcome(both, JSON.stringify(type));
    assert.ok(both.native.ok);
  }
});

Deno.test("validate: both builds cut a long failure message the same way", async () => {
  const h = await loadHandler(NAME);
  // The message names the first error's instance path, here a 6,000-character key.
  const key = "k😀".repeat(2000);
  const both = await runBoth(h, {
    context: { [key]: 1 },
    config: { schema: { additionalProperties: { type: "string" } } },
  });
  assertSameOutcome(both, "long key");
  assert.ok(!both.native.ok && both.native.failure.code === "validation_failed");
  const message = both.native.failure.message;
  assert.ok(message.length >= 4095 && message.length <= 4096, String(message.length));
  const last = message.charCodeAt(message.length - 1);
  assert.ok(last < 0xd800 || last > 0xdbff, "the message ends in half a surrogate pair");
});

Deno.test("validate: the examples give their documented outcomes in both builds", async () => {
  await assertExamples(await loadHandler(NAME));
});

Deno.test("validate: the built module runs in a sandbox process under its manifest, 1 MB envelopes included", async () => {
  const h = await loadHandler(NAME);
  const manifest = await handlerJson(NAME, "manifest.json");
  const runtime = createRuntime();
  try {
    const guest = await runtime.load(h.guest.bytes, manifest, { name: NAME });
    const example = await handlerJson<HandlerExample>(NAME, "examples/order_valid.json");
    const outcome = await runtime.execute(guest, example.envelope);
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    assert.deepEqual(outcome.result, example.expect.result);

    // About 1 MB of items, coerced and filtered (so copied) under the manifest's memory limit.
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      id: `item-${i}`,
      price: String((i % 97) + 0.25),
      qty: String((i % 7) + 1),
      tags: ["a", "b"],
      note: "x".repeat(40),
    }));
    const big = {
      context: { items },
      config: {
        schema: { type: "object", properties: { items: { type: "array", items: itemSchema } } },
        coerce: true,
        filter_extra: true,
      },
    };
    assert.ok(JSON.stringify(big).length > 1_000_000);
    const large = await runtime.execute(guest, big);
    assert.equal(large.status, "completed", JSON.stringify(large.error));
    const value = large.result as { valid: boolean; value: { items: unknown[] } };
    assert.equal(value.valid, true);
    assert.deepEqual(value.value.items[9999], {
      id: "item-9999",
      price: 8.25,
      qty: 4,
      tags: ["a", "b"],
    });

    const failed = await runtime.execute(guest, {
      context: { n: 1 },
      config: { schema: { type: "string" } },
    });
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "handler_error");
    assert.equal(failed.error?.details?.guest_code, "validation_failed");
    assert.equal(failed.error?.retryable, false);
  } finally {
    await runtime.close();
  }
});
