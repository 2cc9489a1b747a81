import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { type NativeOutcome, runNative } from "../../native/run_native.ts";
import { handle } from "./transform.ts";

const context = { order: { id: 7, items: [{ sku: "a", qty: 2 }, { sku: "b", qty: 1 }] } };

function run(config: unknown, envelope: Record<string, unknown> = { context }): NativeOutcome {
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

Deno.test("transform returns the single output of the filter", () => {
  assert.deepEqual(
    result(run({ filter: "{id: .context.order.id, skus: [.context.order.items[].sku]}" })),
    { id: 7, skus: ["a", "b"] },
  );
});

Deno.test("transform runs the filter over the whole envelope", () => {
  const envelope = {
    context,
    deps: { fetch: { status: 200 } },
    step: { name: "reshape", attempts: 2, max_attempts: 3, inputs: {} },
  };
  assert.deepEqual(
    result(
      run(
        { filter: "[.deps.fetch.status, .step.name, .step.attempts, .config.outputs]" },
        envelope,
      ),
    ),
    [200, "reshape", 2, null],
  );
});

Deno.test('transform with outputs "array" returns every output in order', () => {
  assert.deepEqual(result(run({ filter: ".context.order.items[].qty", outputs: "array" })), [2, 1]);
  assert.deepEqual(result(run({ filter: "empty", outputs: "array" })), []);
});

Deno.test('transform with outputs "single" fails jq_cardinality on zero or several outputs', () => {
  for (const [filter, count] of [["empty", 0], [".context.order.items[]", 2]] as const) {
    const f = failure(run({ filter }));
    assert.equal(f.code, "jq_cardinality");
    assert.equal(f.retryable, false);
    assert.match(f.message, new RegExp(`produced ${count} outputs`));
    assert.deepEqual(f.details, { field: "config.filter", filter });
  }
});

Deno.test("transform accepts a result that satisfies output_schema", () => {
  const config = {
    filter: "{id: .context.order.id}",
    output_schema: { type: "object", required: ["id"], properties: { id: { type: "integer" } } },
  };
  assert.deepEqual(result(run(config)), { id: 7 });
});

Deno.test("transform fails output_invalid with every schema error", () => {
  const f = failure(run({
    filter: "{id: .context.order.id, items: .context.order.items}",
    output_schema: {
      type: "object",
      required: ["id", "total"],
      properties: { id: { type: "string" }, items: { maxItems: 1 } },
    },
  }));
  assert.equal(f.code, "output_invalid");
  assert.equal(f.retryable, false);
  assert.deepEqual(f.details, {
    errors: [
      {
        instancePath: "",
        schemaPath: "#/required",
        keyword: "required",
        message: "must have required property 'total'",
      },
      {
        instancePath: "/id",
        schemaPath: "#/properties/id/type",
        keyword: "type",
        message: "must be string",
      },
      {
        instancePath: "/items",
        schemaPath: "#/properties/items/maxItems",
        keyword: "maxItems",
        message: "must NOT have more than 1 items",
      },
    ],
  });
  assert.equal(
    f.message,
    "Cannot return the result as it does not match config.output_schema: result must have required property 'total' (and 2 more)",
  );
});

Deno.test('transform checks output_schema against the whole array with outputs "array"', () => {
  const config = {
    filter: ".context.order.items[].sku",
    outputs: "array",
    output_schema: { type: "array", maxItems: 1 },
  };
  assert.equal(failure(run(config)).code, "output_invalid");
});

Deno.test("transform fails jq_syntax and jq_unsupported naming the config field", () => {
  const syntax = failure(run({ filter: ".context |" }));
  assert.equal(syntax.code, "jq_syntax");
  assert.equal(syntax.retryable, false);
  assert.match(syntax.message, /^Cannot compile config\.filter: /);
  assert.deepEqual(syntax.details, { field: "config.filter", filter: ".context |", offset: 10 });

  const unsupported = failure(run({ filter: "input" }));
  assert.equal(unsupported.code, "jq_unsupported");
  assert.equal(unsupported.retryable, false);
});

Deno.test("transform fails jq_runtime, not retryable, when the filter raises an error", () => {
  const f = failure(run({ filter: '.context.order.id | error("no \\(.)")' }));
  assert.equal(f.code, "jq_runtime");
  assert.equal(f.retryable, false);
  assert.equal(f.message, "Cannot evaluate config.filter: no 7");
});

Deno.test("transform fails schema_invalid and schema_unsupported naming the schema location", () => {
  const invalid = failure(run({
    filter: ".",
    output_schema: { properties: { a: { minLength: -1 } } },
  }));
  assert.equal(invalid.code, "schema_invalid");
  assert.equal(invalid.retryable, false);
  assert.deepEqual(invalid.details, {
    field: "config.output_schema",
    path: "#/properties/a/minLength",
  });
  assert.equal(
    invalid.message,
    "Cannot compile config.output_schema as #/properties/a/minLength must be a non-negative integer: current value is -1",
  );

  const unsupported = failure(
    run({ filter: ".", output_schema: { $ref: "https://example.com/s" } }),
  );
  assert.equal(unsupported.code, "schema_unsupported");
  assert.deepEqual(unsupported.details, { field: "config.output_schema", path: "#/$ref" });
});

Deno.test("transform compiles output_schema and the filter before running anything", () => {
  const badSchema = { filter: 'error("runtime")', output_schema: { type: "nope" } };
  assert.equal(failure(run(badSchema)).code, "schema_invalid");
  const badFilter = { filter: ".a |", output_schema: { type: "object" } };
  assert.equal(failure(run(badFilter)).code, "jq_syntax");
});

Deno.test("transform fails config_invalid for a missing, empty or mistyped field", () => {
  const cases: unknown[] = [
    {},
    { filter: "" },
    { filter: 1 },
    { filter: ".", outputs: "many" },
    { filter: ".", output_schema: true },
    { filter: ".", output_schema: [] },
    { filter: ".", extra: 1 },
  ];
  for (const config of cases) {
    const f = failure(run(config));
    assert.equal(f.code, "config_invalid", JSON.stringify(config));
    assert.equal(f.retryable, false);
    assert.ok(Array.isArray((f.details as { errors: unknown[] }).errors));
  }
  assert.equal(failure(runNative(handle, JSON.stringify({ context }))).code, "config_invalid");
});

Deno.test("transform's examples give their documented outcomes", async () => {
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
