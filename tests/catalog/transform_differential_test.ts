// The transform handler's wasm build against its native build on generated
// envelopes and configs (valid and invalid): both must give the same result
// or the same coded failure. Also the examples through both builds, and the
// built module in a real sandbox process under its manifest.
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

const NAME = "transform";

const number = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1.5, 1e21, 1e-7, 5e-324, 1.7976931348623157e308),
);
const json = fc.jsonValue({ maxDepth: 3 });
const item = fc.record({
  id: fc.string({ maxLength: 6 }),
  price: number,
  qty: fc.integer({ min: -1, max: 9 }),
  tags: fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 3 }),
}, { requiredKeys: ["id"] });
/** Contexts shaped like what the filters below read, and some not. */
const context = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      a: json,
      n: number,
      s: fc.string({ maxLength: 12 }),
      flag: fc.boolean(),
      items: fc.array(item, { maxLength: 5 }),
      nested: json,
    }, { requiredKeys: [] }),
  },
  { weight: 1, arbitrary: json },
);
const envelope = (config: unknown) =>
  fc.record({
    context,
    deps: fc.dictionary(fc.constantFrom("load", "fetch_user", "é", "x y"), json, { maxKeys: 3 }),
    step: fc.record({
      name: fc.constantFrom("reshape", "build"),
      attempts: fc.integer({ min: 0, max: 3 }),
      max_attempts: fc.constant(3),
      inputs: json,
    }),
    config: fc.constant(config),
  });

const FILTERS = [
  ".",
  ".context",
  ".context.a",
  ".context.n",
  ".context.items | length",
  "[.context.items[]? | .price] | add",
  ".context | keys",
  ".context.n + 1",
  ".context.items[]?",
  "empty",
  "1, 2",
  ".deps | keys",
  "{name: .step.name, attempts: .step.attempts}",
  ".context | tojson",
  ".context.s | ascii_downcase",
  'error("boom")',
  "[.context.nested | .. | numbers]",
  "[.context | paths] | length",
  ".context.items | sort_by(.price)",
  'try error("x") catch .',
  ".context.items | map(select(.qty > 2)) | length",
  'if .context.flag then "yes" else "no" end',
  "reduce .context.items[]? as $i (0; . + ($i.qty // 0))",
  ".context | with_entries(.value |= type)",
  ".context.s | @base64 | @base64d",
  "[limit(3; .context.items[]?)]",
  ".context.a | tostring",
  ".context.n | floor",
  '.context.s | split("a")',
  ".context.items | group_by(.qty) | map(length)",
  ".context.a as $x | [$x, $x]",
  "def f: . * 2; [.context.items[]?.qty | f]",
  ".context.nested | tojson | fromjson",
  "[.context.a, .context.n] | sort",
  ".context.n * 100 | round",
  '.context | to_entries | map("\\(.key)=\\(.value | tojson)") | join("&")',
  '.context.nested | walk(if type == "number" then . + 1 else . end)',
  ".context.n | tostring | tonumber",
  "[.context.items[]? | {id, total: (.price * .qty)}]",
  ".context.s | @uri",
  ".context.s | @sh",
  "[.context.items[]?.tags[]?] | unique",
  '.context | has("a")',
  ".context.n / (.context.items | length)",
  "$__loc__",
  ".context.items[0].price",
  // Compile failures.
  ".context |",
  "[.[]",
  "{a:}",
  "if . then 1",
  '"abc',
  "nope",
  "$nope",
  "1 / 0",
  "input",
  "now",
  "$ENV.HOME",
  'splits("a")',
];
const VALID_SCHEMAS: unknown[] = [
  {},
  { type: "object" },
  { type: "number" },
  { type: "array", items: { type: "number" } },
  { type: ["string", "number", "null"] },
  { type: "object", required: ["name"] },
  { minimum: 0 },
  { type: "string", maxLength: 5 },
  { type: "array", maxItems: 2, uniqueItems: true },
  { not: { type: "null" } },
  { properties: { name: { type: "string" } }, additionalProperties: false },
  { type: "integer" },
  { anyOf: [{ type: "string" }, { type: "array", items: { type: "object", required: ["id"] } }] },
  { $defs: { n: { type: "number" } }, items: { $ref: "#/$defs/n" } },
];
/** Invalid or unsupported schemas. */
const BAD_SCHEMAS: unknown[] = [
  { type: "foo" },
  { minLength: -1 },
  { $ref: "#/nope" },
  { properties: 3 },
  { required: "a" },
  { $ref: "https://example.com/schema.json" },
  { $schema: "http://json-schema.org/draft-07/schema#" },
];
const validConfig = fc.record({
  filter: fc.constantFrom(...FILTERS),
  outputs: fc.constantFrom("single", "array"),
  output_schema: fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...VALID_SCHEMAS) },
    { weight: 1, arbitrary: fc.constantFrom(...BAD_SCHEMAS) },
  ),
}, { requiredKeys: ["filter"] }) as fc.Arbitrary<Record<string, unknown>>;
/** One way to break a valid config. */
const MUTATIONS: ((c: Record<string, unknown>) => unknown)[] = [
  ({ filter: _, ...c }) => c,
  (c) => ({ ...c, filter: "" }),
  (c) => ({ ...c, filter: 3 }),
  (c) => ({ ...c, outputs: "many" }),
  (c) => ({ ...c, output_schema: true }),
  (c) => ({ ...c, output_schema: [] }),
  (c) => ({ ...c, extra: 1 }),
  () => "filter",
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

Deno.test("transform: the wasm and native builds agree on 500 generated envelopes and configs", async () => {
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
  // The generators must reach successes and each failure path, or agreement says little.
  const codes = [
    "ok",
    "config_invalid",
    "jq_syntax",
    "jq_unsupported",
    "jq_runtime",
    "jq_cardinality",
    "output_invalid",
    "schema_invalid",
    "schema_unsupported",
  ];
  for (const code of codes) {
    assert.ok((seen.get(code) ?? 0) > 0, `no case reached ${code}: ${JSON.stringify([...seen])}`);
  }
  assert.ok((seen.get("ok") ?? 0) >= 100, JSON.stringify([...seen]));
});

Deno.test("transform: both builds agree on number text and edge values", async () => {
  const h = await loadHandler(NAME);
  const values = [
    0.1 + 0.2,
    -0,
    1e21,
    1e-7,
    5e-324,
    1.7976931348623157e308,
    9007199254740993,
    123e-20,
  ];
  const filters = [
    ".context",
    ".context | map(tostring)",
    ".context | map(. * 3)",
    ".context | add",
    ".context | map(. / 7)",
    ".context | sort",
    ".context | map(-.)",
    ".context | map(floor)",
  ];
  for (const filter of filters) {
    const both = await runBoth(h, { context: values, config: { filter } });
    assertSameOutcome(both, filter);
    assert.ok(both.native.ok, filter);
  }
});

Deno.test("transform: both builds cut a long failure message the same way", async () => {
  const h = await loadHandler(NAME);
  // jq puts the whole error value in the message: far past the 4096 code units a failure may carry.
  const context = { text: "é😀".repeat(3000), list: Array.from({ length: 500 }, (_, i) => i) };
  for (const filter of ["error(.context)", "error(.context.text)", ".context.text | error"]) {
    const both = await runBoth(h, { context, config: { filter } });
    assertSameOutcome(both, filter);
    assert.ok(!both.native.ok && both.native.failure.code === "jq_runtime", filter);
    assert.ok(both.native.failure.message.length <= 4096, filter);
  }
});

Deno.test("transform: the examples give their documented outcomes in both builds", async () => {
  await assertExamples(await loadHandler(NAME));
});

Deno.test("transform: the built module runs in a sandbox process under its manifest, 1 MB envelopes included", async () => {
  const h = await loadHandler(NAME);
  const manifest = await handlerJson(NAME, "manifest.json");
  const runtime = createRuntime();
  try {
    const guest = await runtime.load(h.guest.bytes, manifest, { name: NAME });
    const example = await handlerJson<HandlerExample>(NAME, "examples/reshape_order.json");
    const outcome = await runtime.execute(guest, example.envelope);
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    assert.deepEqual(outcome.result, example.expect.result);

    // About 1 MB of items; the manifest's memory limit must hold such a run.
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      id: `item-${i}`,
      price: (i % 97) + 0.25,
      qty: (i % 7) + 1,
      tags: ["a", "b"],
      note: "x".repeat(40),
    }));
    const big = {
      context: { items },
      config: {
        filter:
          "[.context.items[] | select(.qty > 3) | . + {total: (.price * .qty)}] | {n: length, sum: (map(.total) | add)}",
      },
    };
    assert.ok(JSON.stringify(big).length > 1_000_000);
    const large = await runtime.execute(guest, big);
    assert.equal(large.status, "completed", JSON.stringify(large.error));
    const chosen = items.filter((i) => i.qty > 3);
    assert.deepEqual(large.result, {
      n: chosen.length,
      sum: chosen.reduce((sum, i) => sum + i.price * i.qty, 0),
    });

    const failed = await runtime.execute(guest, { context: {}, config: { filter: "empty" } });
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "handler_error");
    assert.equal(failed.error?.details?.guest_code, "jq_cardinality");
    assert.equal(failed.error?.retryable, false);
  } finally {
    await runtime.close();
  }
});
