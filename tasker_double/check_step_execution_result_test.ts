import assert from "node:assert/strict";
import { checkStepExecutionResult } from "./check_step_execution_result.ts";

const ok = () => ({
  step_uuid: "0190a0b0-0000-7000-8000-000000000001",
  success: true,
  status: "completed",
  result: { a: 1 },
  metadata: {
    execution_time_ms: 3,
    completed_at: "2026-01-02T03:04:05.678Z",
    retryable: false,
    custom: {},
    context: {},
  },
  error: null,
  orchestration_metadata: null,
});

Deno.test("checkStepExecutionResult() accepts what the outcome mapping writes", () => {
  assert.deepEqual(checkStepExecutionResult(ok()), []);
  assert.deepEqual(
    checkStepExecutionResult({
      ...ok(),
      success: false,
      status: "failed",
      result: {},
      metadata: {
        ...ok().metadata,
        retryable: true,
        error_type: "retryable_error",
        error_code: "http_status",
      },
      error: {
        message: "503",
        retryable: true,
        error_type: "retryable_error",
        status_code: 503,
        context: {},
      },
      orchestration_metadata: {
        headers: {},
        custom: {},
        backoff_hint: { backoff_type: "ServiceUnavailable", delay_seconds: 30 },
      },
    }),
    [],
  );
});

Deno.test("checkStepExecutionResult() lists each rule Tasker's parser enforces", () => {
  const cases: [unknown, string][] = [
    ["nope", "results: expected object, got string"],
    [{ ...ok(), step_uuid: "x" }, "step_uuid: expected uuid, got string"],
    [{ ...ok(), success: "true" }, "success: expected boolean, got string"],
    [{ ...ok(), result: undefined }, "result: required value is missing"],
    [
      { ...ok(), metadata: { ...ok().metadata, retryable: undefined } },
      "metadata.retryable: required boolean is missing",
    ],
    [
      { ...ok(), metadata: { ...ok().metadata, completed_at: "yesterday" } },
      "metadata.completed_at: expected rfc3339, got string",
    ],
    [
      { ...ok(), metadata: { ...ok().metadata, execution_time_ms: 1.5 } },
      "metadata.execution_time_ms: expected integer, got number",
    ],
    [
      { ...ok(), metadata: { ...ok().metadata, custom: undefined } },
      "metadata.custom: required object is missing",
    ],
    [{ ...ok(), error: { message: "x" } }, "error.retryable: required boolean is missing"],
    [{ ...ok(), error: { retryable: true } }, "error.message: required string is missing"],
    [{ ...ok(), error: "boom" }, "error: expected object or null, got string"],
    [
      { ...ok(), orchestration_metadata: { custom: {} } },
      "orchestration_metadata.headers: required object is missing",
    ],
    [
      { ...ok(), orchestration_metadata: { headers: { "retry-after": 3 }, custom: {} } },
      "orchestration_metadata.headers.retry-after: expected string, got number",
    ],
    [
      {
        ...ok(),
        orchestration_metadata: {
          headers: {},
          custom: {},
          backoff_hint: { backoff_type: "Soon", delay_seconds: -1 },
        },
      },
      'orchestration_metadata.backoff_hint.backoff_type: expected one of ServerRequested, RateLimit, ServiceUnavailable, Custom, got "Soon"',
    ],
  ];
  for (const [value, expected] of cases) {
    const problems = checkStepExecutionResult(JSON.parse(JSON.stringify(value ?? null)) ?? value);
    assert.ok(problems.includes(expected), `${expected}\n  got: ${problems.join("; ")}`);
  }
});
