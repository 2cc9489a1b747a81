import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { type NativeOutcome, runNative } from "../../native/run_native.ts";
import { handle } from "./validate.ts";

const orderSchema = {
  type: "object",
  required: ["id", "qty"],
  properties: { id: { type: "string" }, qty: { type: "integer", minimum: 1 } },
};

function run(config: unknown, envelope: Record<string, unknown>): NativeOutcome {
  return runNative(handle, JSON.stringify({ ...envelope, config }));
}

function result(outcome: NativeOutcome): unknown {
  assert.ok(outcome.ok, `expected success, got ${JSON.stringify(outcome)}`);
  return JSON.parse(outcome.resultJson);
}

function failure(outcome: NativeOutcome) {
  assert.ok(!outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome.failure;
}

Deno.test("validate returns the context unchanged when it matches the schema", () => {
  const context = { id: "o-1", qty: 3, note: "x" };
  assert.deepEqual(result(run({ schema: orderSchema }, { context })), {
    valid: true,
    value: context,
  });
});

Deno.test("validate checks the value config.select picks from the envelope", () => {
  const envelope = { context: {}, deps: { load: { id: "o-2", qty: 1 } } };
  assert.deepEqual(result(run({ schema: orderSchema, select: ".deps.load" }, envelope)), {
    valid: true,
    value: { id: "o-2", qty: 1 },
  });
});

Deno.test("validate fails validation_failed with every error by default", () => {
  const f = failure(run({ schema: orderSchema }, { context: { qty: 0.5 } }));
  assert.equal(f.code, "validation_failed");
  assert.equal(f.retryable, false);
  assert.equal(
    f.message,
    "Cannot accept the value selected by config.select as it does not match config.schema: value must have required property 'id' (and 2 more)",
  );
  assert.deepEqual(f.details, {
    errors: [
      {
        instancePath: "",
        schemaPath: "#/required",
        keyword: "required",
        message: "must have required property 'id'",
      },
      {
        instancePath: "/qty",
        schemaPath: "#/properties/qty/type",
        keyword: "type",
        message: "must be integer",
      },
      {
        instancePath: "/qty",
        schemaPath: "#/properties/qty/minimum",
        keyword: "minimum",
        message: "must be >= 1",
      },
    ],
  });
});

Deno.test('validate with on_failure "warn" completes with the value and the errors', () => {
  const context = { id: 5, qty: 2 };
  assert.deepEqual(result(run({ schema: orderSchema, on_failure: "warn" }, { context })), {
    valid: false,
    value: context,
    errors: [{
      instancePath: "/id",
      schemaPath: "#/properties/id/type",
      keyword: "type",
      message: "must be string",
    }],
  });
});

Deno.test('validate with on_failure "skip" completes with the error count only', () => {
  const config = { schema: orderSchema, on_failure: "skip" };
  assert.deepEqual(result(run(config, { context: { id: 5 } })), {
    valid: false,
    skipped: true,
    error_count: 2,
  });
});

Deno.test("validate coerces scalars and returns the coerced value", () => {
  const config = { schema: orderSchema, coerce: true };
  assert.deepEqual(result(run(config, { context: { id: 12, qty: "4" } })), {
    valid: true,
    value: { id: "12", qty: 4 },
  });
  // A coerced root scalar is returned too.
  const root = { schema: { type: "integer" }, select: ".context.n", coerce: true };
  assert.deepEqual(result(run(root, { context: { n: "7" } })), { valid: true, value: 7 });
});

Deno.test("validate with filter_extra removes properties additionalProperties forbids", () => {
  const schema = { ...orderSchema, additionalProperties: false };
  const context = { id: "o-1", qty: 1, debug: true, trace: [1] };
  assert.deepEqual(result(run({ schema, filter_extra: true }, { context })), {
    valid: true,
    value: { id: "o-1", qty: 1 },
  });
  const strict = failure(run({ schema }, { context }));
  assert.equal(strict.code, "validation_failed");
  assert.equal((strict.details as { errors: unknown[] }).errors.length, 2);
});

Deno.test("validate coerces each occurrence of a value a filter repeats on its own", () => {
  const config = {
    schema: {
      type: "array",
      prefixItems: [
        { properties: { n: { type: "number" } } },
        { properties: { n: { type: "string" } } },
      ],
    },
    select: "[.context.a, .context.a]",
    coerce: true,
  };
  assert.deepEqual(result(run(config, { context: { a: { n: "1" } } })), {
    valid: true,
    value: [{ n: 1 }, { n: "1" }],
  });
});

Deno.test("validate copies deeply nested values without exhausting the stack", () => {
  const config = {
    schema: { type: "array" },
    select: 'reduce range(20000) as $i ({n: "1"}; [.])',
    coerce: true,
  };
  const value = result(run(config, { context: {} })) as { valid: boolean; value: unknown };
  assert.equal(value.valid, true);
  let depth = 0;
  let v: unknown = value.value;
  while (Array.isArray(v)) {
    depth++;
    v = v[0];
  }
  assert.equal(depth, 20000);
  assert.deepEqual(v, { n: "1" });
});

Deno.test("validate checks formats only with assert_formats", () => {
  const schema = { type: "string", format: "date" };
  const envelope = { context: "2025-02-30" };
  assert.equal((result(run({ schema }, envelope)) as { valid: boolean }).valid, true);
  const f = failure(run({ schema, assert_formats: true }, envelope));
  assert.equal(f.code, "validation_failed");
  assert.equal((f.details as { errors: { keyword: string }[] }).errors[0].keyword, "format");
});

Deno.test("validate fails schema_invalid and schema_unsupported naming the schema location", () => {
  const invalid = failure(run({ schema: { items: { type: ["string", 3] } } }, { context: [] }));
  assert.equal(invalid.code, "schema_invalid");
  assert.equal(invalid.retryable, false);
  assert.deepEqual(invalid.details, { field: "config.schema", path: "#/items/type" });
  assert.match(invalid.message, /^Cannot compile config\.schema as #\/items\/type must be /);

  const draft7 = { $schema: "http://json-schema.org/draft-07/schema#" };
  const unsupported = failure(run({ schema: draft7 }, { context: {} }));
  assert.equal(unsupported.code, "schema_unsupported");
  assert.deepEqual(unsupported.details, { field: "config.schema", path: "#/$schema" });
});

Deno.test("validate fails with jq codes when config.select is bad or not exactly one value", () => {
  const envelope = { context: { items: [1, 2] } };
  const cases = [
    [".context |", "jq_syntax"],
    ["input", "jq_unsupported"],
    ['.context.items | error("x")', "jq_runtime"],
    [".context.items[]", "jq_cardinality"],
    ["empty", "jq_cardinality"],
  ] as const;
  for (const [select, code] of cases) {
    const f = failure(run({ schema: {}, select }, envelope));
    assert.equal(f.code, code, select);
    assert.equal(f.retryable, false);
    assert.equal((f.details as { field: string }).field, "config.select");
  }
});

Deno.test("validate compiles the schema before it runs config.select", () => {
  const f = failure(run({ schema: { minimum: "0" }, select: 'error("late")' }, { context: 1 }));
  assert.equal(f.code, "schema_invalid");
});

Deno.test("validate fails config_invalid for a missing, empty or mistyped field", () => {
  const cases: unknown[] = [
    {},
    { schema: true },
    { schema: [] },
    { schema: {}, select: "" },
    { schema: {}, on_failure: "ignore" },
    { schema: {}, coerce: "yes" },
    { schema: {}, filter_extra: 1 },
    { schema: {}, assert_formats: null },
    { schema: {}, extra: 1 },
  ];
  for (const config of cases) {
    const f = failure(run(config, { context: {} }));
    assert.equal(f.code, "config_invalid", JSON.stringify(config));
    assert.equal(f.retryable, false);
  }
});

Deno.test("validate's examples give their documented outcomes", async () => {
  for await (const entry of Deno.readDir(new URL("./examples/", import.meta.url))) {
    const example = JSON.parse(
      await Deno.readTextFile(new URL(`./examples/${entry.name}`, import.meta.url)),
    );
    const outcome = runNative(handle, JSON.stringify(example.envelope));
    if ("result" in example.expect) {
      assert.deepEqual(result(outcome), example.expect.result, entry.name);
    } else {
      const f = failure(outcome);
      assert.equal(f.code, example.expect.failure.code, entry.name);
      assert.equal(f.retryable, example.expect.failure.retryable, entry.name);
      if (example.expect.failure.message) {
        assert.equal(f.message, example.expect.failure.message, entry.name);
      }
      if (example.expect.failure.details) {
        assert.deepEqual(f.details, example.expect.failure.details, entry.name);
      }
    }
  }
});
