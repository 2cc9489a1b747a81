import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { type NativeOutcome, runNative } from "../../native/run_native.ts";
import { handle } from "./decide.ts";

const rules = [
  { when: ".context.amount > 10000", steps: ["manual_review", "notify_compliance"] },
  { when: ".context.amount > 1000", steps: ["senior_approval"] },
];

function run(config: unknown, context: unknown): NativeOutcome {
  return runNative(handle, JSON.stringify({ context, config }));
}

function result(outcome: NativeOutcome): unknown {
  assert.ok(outcome.ok, `expected success, got ${JSON.stringify(outcome)}`);
  return JSON.parse(outcome.resultJson);
}

function failure(outcome: NativeOutcome) {
  assert.ok(!outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome.failure;
}

function createSteps(stepNames: string[], matched: number | null) {
  return {
    decision_point_outcome: { type: "create_steps", step_names: stepNames },
    matched_rule: matched,
  };
}

Deno.test("decide creates the steps of the first rule that holds", () => {
  assert.deepEqual(
    result(run({ rules }, { amount: 50000 })),
    createSteps(["manual_review", "notify_compliance"], 0),
  );
  assert.deepEqual(result(run({ rules }, { amount: 5000 })), createSteps(["senior_approval"], 1));
});

Deno.test("decide creates the default steps when no rule holds", () => {
  assert.deepEqual(
    result(run({ rules, default: ["auto_approve"] }, { amount: 10 })),
    createSteps(["auto_approve"], null),
  );
});

Deno.test("decide returns no_branches when no rule holds and there is no default", () => {
  assert.deepEqual(result(run({ rules }, { amount: 10 })), {
    decision_point_outcome: { type: "no_branches" },
    matched_rule: null,
  });
});

Deno.test("decide does not evaluate the rules after the one that holds", () => {
  const config = { rules: [rules[0], { when: 'error("unreached")', steps: ["x"] }] };
  assert.deepEqual(result(run(config, { amount: 20000 })), createSteps(rules[0].steps, 0));
  const f = failure(run(config, { amount: 1 }));
  assert.equal(f.code, "jq_runtime");
  assert.equal(f.retryable, false);
  assert.equal(f.message, "Cannot evaluate config.rules[1].when: unreached");
});

Deno.test("decide compiles every rule before it runs any", () => {
  const config = { rules: [rules[0], { when: ".amount >", steps: ["x"] }] };
  const f = failure(run(config, { amount: 20000 }));
  assert.equal(f.code, "jq_syntax");
  assert.equal((f.details as { field: string }).field, "config.rules[1].when");
  const unsupported = { rules: [{ when: '$ENV.MODE == "x"', steps: ["x"] }] };
  assert.equal(failure(run(unsupported, {})).code, "jq_unsupported");
});

Deno.test("decide fails decide_not_boolean when a rule produces another type", () => {
  for (const [when, type] of [[".context.tier", "string"], [".context.missing", "null"]]) {
    const f = failure(run({ rules: [{ when, steps: ["x"] }], default: ["y"] }, { tier: "gold" }));
    assert.equal(f.code, "decide_not_boolean");
    assert.equal(f.retryable, false);
    assert.deepEqual(f.details, { field: "config.rules[0].when", filter: when, type });
  }
});

Deno.test("decide fails jq_cardinality when a rule produces zero or several outputs", () => {
  for (const when of ["empty", ".context.flags[]"]) {
    const f = failure(run({ rules: [{ when, steps: ["x"] }] }, { flags: [true, false] }));
    assert.equal(f.code, "jq_cardinality");
    assert.deepEqual(f.details, { field: "config.rules[0].when", filter: when });
  }
});

Deno.test("decide fails config_invalid for rules or step names Tasker cannot use", () => {
  const cases: unknown[] = [
    {},
    { rules: [] },
    { rules: [{ when: "true" }] },
    { rules: [{ when: "true", steps: [] }] },
    { rules: [{ when: "true", steps: [""] }] },
    { rules: [{ when: "true", steps: ["x".repeat(129)] }] },
    { rules: [{ when: "true", steps: [1] }] },
    { rules: [{ when: "", steps: ["x"] }] },
    { rules: [{ when: "true", steps: ["x"], extra: 1 }] },
    { rules: [{ when: "true", steps: ["x"] }], default: [] },
    { rules: [{ when: "true", steps: ["x"] }], default: "x" },
  ];
  for (const config of cases) {
    const f = failure(run(config, {}));
    assert.equal(f.code, "config_invalid", JSON.stringify(config));
    assert.equal(f.retryable, false);
  }
  assert.deepEqual(
    result(run({ rules: [{ when: "true", steps: ["x".repeat(128)] }] }, {})),
    createSteps(["x".repeat(128)], 0),
  );
});

Deno.test("decide's examples give their documented outcomes", async () => {
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
