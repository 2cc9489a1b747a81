import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { type NativeOutcome, runNative } from "../../native/run_native.ts";
import { handle } from "./assert.ts";

const context = { total: 120, currency: "EUR", items: [{ qty: 2 }, { qty: 0 }] };
const TRUE = ".context.total > 100";
const FALSE = '.context.currency == "USD"';

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

Deno.test('assert with quantifier "all" (the default) passes only when every condition is true', () => {
  assert.deepEqual(result(run({ conditions: [TRUE, TRUE] })), {
    passed: true,
    results: [true, true],
  });
  const f = failure(run({ conditions: [TRUE, FALSE, FALSE] }));
  assert.equal(f.code, "assertion_failed");
  assert.equal(f.retryable, false);
  assert.deepEqual(f.details, { results: [true, false, false], failed: [1, 2] });
  assert.equal(
    f.message,
    'Cannot pass the assertion as not all 3 conditions hold (quantifier "all"): config.conditions[1], config.conditions[2] are false',
  );
});

Deno.test('assert with quantifier "any" passes when one condition is true', () => {
  assert.deepEqual(result(run({ conditions: [FALSE, TRUE], quantifier: "any" })), {
    passed: true,
    results: [false, true],
  });
  const f = failure(run({ conditions: [FALSE, FALSE], quantifier: "any" }));
  assert.equal(f.code, "assertion_failed");
  assert.deepEqual(f.details, { results: [false, false], failed: [0, 1] });
  assert.match(f.message, /none of 2 conditions holds \(quantifier "any"\)/);
});

Deno.test('assert with quantifier "none" fails naming the conditions that are true', () => {
  assert.deepEqual(result(run({ conditions: [FALSE], quantifier: "none" })), {
    passed: true,
    results: [false],
  });
  const f = failure(run({ conditions: [FALSE, TRUE], quantifier: "none" }));
  assert.deepEqual(f.details, { results: [false, true], failed: [1] });
  assert.equal(
    f.message,
    'Cannot pass the assertion as some of 2 conditions hold (quantifier "none"): config.conditions[1] is true',
  );
});

Deno.test("assert uses config.message as the failure message", () => {
  const f = failure(run({ conditions: [FALSE], message: "Only USD orders can be refunded" }));
  assert.equal(f.message, "Only USD orders can be refunded");
  assert.equal(f.code, "assertion_failed");
});

Deno.test("assert's default message lists at most ten conditions", () => {
  const f = failure(run({ conditions: Array(13).fill(FALSE) }));
  assert.match(f.message, /config\.conditions\[9\] and 3 more are false$/);
  assert.doesNotMatch(f.message, /config\.conditions\[10\]/);
  assert.equal((f.details as { failed: number[] }).failed.length, 13);
});

Deno.test("assert fails assert_not_boolean when a condition produces another type", () => {
  for (const [condition, type] of [[".context.total", "number"], [".context.nope", "null"]]) {
    const f = failure(run({ conditions: [TRUE, condition] }));
    assert.equal(f.code, "assert_not_boolean");
    assert.equal(f.retryable, false);
    assert.deepEqual(f.details, { field: "config.conditions[1]", filter: condition, type });
  }
});

Deno.test("assert fails jq_cardinality when a condition produces zero or several outputs", () => {
  for (const condition of ["empty", ".context.items[] | .qty > 0"]) {
    const f = failure(run({ conditions: [condition] }));
    assert.equal(f.code, "jq_cardinality");
    assert.deepEqual(f.details, { field: "config.conditions[0]", filter: condition });
  }
});

Deno.test("assert compiles every condition before it runs any", () => {
  const f = failure(run({ conditions: ['error("first")', ".a |"] }));
  assert.equal(f.code, "jq_syntax");
  assert.equal((f.details as { field: string }).field, "config.conditions[1]");
  const unsupported = failure(run({ conditions: [TRUE, "now > 0"] }));
  assert.equal(unsupported.code, "jq_unsupported");
});

Deno.test("assert evaluates every condition even after the outcome is known", () => {
  const f = failure(run({ conditions: [TRUE, 'error("late")'], quantifier: "any" }));
  assert.equal(f.code, "jq_runtime");
  assert.equal(f.message, "Cannot evaluate config.conditions[1]: late");
});

Deno.test("assert fails config_invalid for a missing, empty or mistyped field", () => {
  const cases: unknown[] = [
    {},
    { conditions: [] },
    { conditions: "true" },
    { conditions: [""] },
    { conditions: [true] },
    { conditions: ["true"], quantifier: "most" },
    { conditions: ["true"], message: "" },
    { conditions: ["true"], message: "x".repeat(1001) },
    { conditions: ["true"], extra: 1 },
  ];
  for (const config of cases) {
    const f = failure(run(config));
    assert.equal(f.code, "config_invalid", JSON.stringify(config));
    assert.equal(f.retryable, false);
  }
});

Deno.test("assert's examples give their documented outcomes", async () => {
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
