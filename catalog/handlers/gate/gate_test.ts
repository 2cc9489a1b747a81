import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { runNative } from "../../native/run_native.ts";
import { DEFAULT_POLL_SECONDS, handle } from "./gate.ts";
import { MAX_POLL_SECONDS } from "./config_schema.ts";

function run(envelope: unknown) {
  return runNative(handle, JSON.stringify(envelope));
}

function failure(envelope: unknown) {
  const out = run(envelope);
  assert.ok(!out.ok, `expected a failure, got ${JSON.stringify(out)}`);
  return out.failure;
}

function pendingHint(seconds: number, recordFound: boolean) {
  return {
    backoff_hint: { backoff_type: "Custom", delay_seconds: seconds },
    record_found: recordFound,
  };
}

const APPROVAL = ".context.approval // .deps.approve.approval";

Deno.test("gate passes with the record when the approval says approved", () => {
  const record = { approved: true, by: "ann" };
  const out = run({ context: { approval: record }, config: { approval: APPROVAL } });
  assert.ok(out.ok, JSON.stringify(out));
  assert.deepEqual(JSON.parse(out.resultJson), { approved: true, approval: record });
});

Deno.test("gate finds the record in a dependency result when the context has none", () => {
  const record = { approved: true, by: "bob" };
  const out = run({
    context: {},
    deps: { approve: { approval: record } },
    config: { approval: APPROVAL },
  });
  assert.ok(out.ok);
  assert.deepEqual(JSON.parse(out.resultJson).approval, record);
});

Deno.test("gate is pending and retryable with a Custom backoff hint while no record exists", () => {
  for (
    const envelope of [
      { context: {}, config: { approval: APPROVAL } },
      { context: { approval: null }, config: { approval: ".context.approval" } },
      { context: { list: [] }, config: { approval: ".context.list[]" } },
      { context: {}, config: { approval: "empty" } },
    ]
  ) {
    const f = failure(envelope);
    assert.equal(f.code, "approval_pending");
    assert.equal(f.retryable, true);
    assert.deepEqual(f.details, pendingHint(DEFAULT_POLL_SECONDS, false));
  }
});

Deno.test("gate puts poll_seconds in the backoff hint", () => {
  const f = failure({ context: {}, config: { approval: APPROVAL, poll_seconds: 15 } });
  assert.deepEqual(f.details, pendingHint(15, false));
  assert.match(f.message, /15 s/);
});

Deno.test("gate is pending with record_found when the record is neither approved nor rejected", () => {
  for (const record of [{}, { approved: null }, { approved: "yes" }, { status: "review" }]) {
    const f = failure({
      context: { approval: record },
      config: { approval: APPROVAL, poll_seconds: 5 },
    });
    assert.equal(f.code, "approval_pending", JSON.stringify(record));
    assert.equal(f.retryable, true);
    assert.deepEqual(f.details, pendingHint(5, true));
  }
});

Deno.test("gate fails with approval_rejected, not retryable, carrying the record", () => {
  const record = { approved: false, reason: "budget" };
  const f = failure({ context: { approval: record }, config: { approval: APPROVAL } });
  assert.equal(f.code, "approval_rejected");
  assert.equal(f.retryable, false);
  assert.deepEqual(f.details, { approval: record });
});

Deno.test("gate uses custom approved_when and rejected_when conditions", () => {
  const config = {
    approval: ".context.review",
    approved_when: '.status == "approved" and (.signers | length) >= 2',
    rejected_when: '.status == "denied"',
  };
  const ok = run({ context: { review: { status: "approved", signers: ["a", "b"] } }, config });
  assert.ok(ok.ok);
  const notEnough = failure({
    context: { review: { status: "approved", signers: ["a"] } },
    config,
  });
  assert.equal(notEnough.code, "approval_pending");
  const denied = failure({ context: { review: { status: "denied", signers: [] } }, config });
  assert.equal(denied.code, "approval_rejected");
});

Deno.test("gate fails with approval_conflict when both conditions hold", () => {
  const f = failure({
    context: { approval: { approved: true } },
    config: { approval: APPROVAL, rejected_when: ".approved" },
  });
  assert.equal(f.code, "approval_conflict");
  assert.equal(f.retryable, false);
});

Deno.test("gate fails with condition_not_boolean when a condition gives a non-boolean", () => {
  const f = failure({
    context: { approval: { approved: "yes" } },
    config: { approval: APPROVAL, approved_when: ".approved" },
  });
  assert.equal(f.code, "condition_not_boolean");
  assert.equal(f.retryable, false);
  assert.deepEqual(f.details, { field: "config.approved_when", type: "string" });
});

Deno.test("gate fails with jq_cardinality when the approval or a condition gives several values", () => {
  const many = failure({
    context: { a: [{ approved: true }, { approved: true }] },
    config: { approval: ".context.a[]" },
  });
  assert.equal(many.code, "jq_cardinality");
  assert.equal((many.details as { field: string }).field, "config.approval");
  const cond = failure({
    context: { approval: { approved: true } },
    config: { approval: APPROVAL, rejected_when: "false, false" },
  });
  assert.equal(cond.code, "jq_cardinality");
  assert.equal((cond.details as { field: string }).field, "config.rejected_when");
  const none = failure({
    context: { approval: { approved: true } },
    config: { approval: APPROVAL, approved_when: "empty" },
  });
  assert.equal(none.code, "jq_cardinality");
});

Deno.test("gate compiles every filter before looking for a record", () => {
  for (
    const [field, config] of [
      ["config.approval", { approval: ".a |" }],
      ["config.approved_when", { approval: APPROVAL, approved_when: "(" }],
      ["config.rejected_when", { approval: APPROVAL, rejected_when: "]" }],
    ] as const
  ) {
    const f = failure({ context: {}, config });
    assert.equal(f.code, "jq_syntax", field);
    assert.equal((f.details as { field: string }).field, field);
    assert.equal(f.retryable, false);
  }
});

Deno.test("gate reports a jq runtime error in a condition as jq_runtime", () => {
  const f = failure({ context: { approval: "approved" }, config: { approval: APPROVAL } });
  assert.equal(f.code, "jq_runtime");
  assert.equal((f.details as { field: string }).field, "config.approved_when");
});

Deno.test("gate rejects invalid configs with config_invalid", () => {
  const bad: Record<string, unknown>[] = [
    {},
    { approval: "" },
    { approval: 1 },
    { approval: APPROVAL, poll_seconds: 0 },
    { approval: APPROVAL, poll_seconds: 2.5 },
    { approval: APPROVAL, poll_seconds: MAX_POLL_SECONDS + 1 },
    { approval: APPROVAL, approved_when: "" },
    { approval: APPROVAL, rejected_when: false },
    { approval: APPROVAL, timeout: 5 },
  ];
  for (const config of bad) {
    const f = failure({ context: { approval: { approved: true } }, config });
    assert.equal(f.code, "config_invalid", JSON.stringify(config));
    assert.equal(f.retryable, false);
  }
});

Deno.test("gate examples produce their documented outcomes", async () => {
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
      assert.deepEqual(
        { code: out.failure.code, retryable: out.failure.retryable, details: out.failure.details },
        { code, retryable, details },
        entry.name,
      );
    }
    count++;
  }
  assert.ok(count >= 3);
});
