import assert from "node:assert/strict";
import type { ErrorCode } from "../errors.ts";
import { emptyMetrics, type StepError, type StepOutcome } from "../runtime/step_outcome.ts";
import {
  ALL_ERROR_CODES,
  boundedContext,
  ERROR_MAPPING,
  failureResult,
  MAX_ERROR_CONTEXT_BYTES,
  MAX_ERROR_MESSAGE_CHARS,
  type ResultInfo,
  type StepExecutionResult,
  StepExecutionResultSchema,
  toStepExecutionResult,
} from "./step_execution_result.ts";

// Type-level: the mapping's keys are exactly ErrorCode (a code added to
// src/errors.ts without a row, or a row for a code that does not exist, fails
// to compile), so iterating ALL_ERROR_CODES covers every code.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
const exhaustive: Equals<keyof typeof ERROR_MAPPING, ErrorCode> = true;

const INFO: ResultInfo = {
  stepUuid: "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9a02",
  workerId: "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff",
  startedAt: new Date("2025-03-01T10:00:00.000Z"),
  completedAt: new Date("2025-03-01T10:00:00.250Z"),
};

function failed(error: StepError): StepOutcome {
  return { status: "failed", result: null, error, metrics: emptyMetrics(), logs: [] };
}

function completed(result: unknown): StepOutcome {
  return { status: "completed", result, error: null, metrics: emptyMetrics(), logs: [] };
}

function assertParses(result: StepExecutionResult, label: string): void {
  const parsed = StepExecutionResultSchema.safeParse(result);
  assert.ok(parsed.success, `${label}: ${JSON.stringify(parsed.error?.issues)}`);
  // What is stored is JSON: it must survive a round trip unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(result)), result, label);
}

Deno.test("ALL_ERROR_CODES lists every ErrorCode once", () => {
  assert.equal(exhaustive, true);
  assert.equal(new Set(ALL_ERROR_CODES).size, ALL_ERROR_CODES.length);
  assert.ok(ALL_ERROR_CODES.includes("timeout") && ALL_ERROR_CODES.includes("internal"));
});

Deno.test("toStepExecutionResult() maps every ErrorCode to a result orchestration parses", () => {
  for (const code of ALL_ERROR_CODES) {
    for (const guestRetryable of [true, false]) {
      const result = toStepExecutionResult(
        failed({
          code,
          message: `failed with ${code}`,
          retryable: guestRetryable,
          details: { a: 1 },
        }),
        INFO,
      );
      assertParses(result, code);
      const mapping = ERROR_MAPPING[code];
      const retryable = mapping.retryable === "guest" ? guestRetryable : mapping.retryable;
      assert.equal(result.success, false);
      assert.deepEqual(result.result, {});
      assert.equal(result.status, mapping.status, code);
      assert.equal(result.metadata.retryable, retryable, code);
      assert.equal(result.metadata.error_type, mapping.errorType, code);
      assert.equal(result.metadata.error_code, code);
      assert.equal(result.metadata.custom.wasm_broker_code, code);
      assert.deepEqual(result.error, {
        message: `failed with ${code}`,
        retryable,
        error_type: mapping.errorType,
        context: { a: 1 },
      });
      assert.equal(result.orchestration_metadata, null);
    }
  }
});

Deno.test("toStepExecutionResult() follows the outcome mapping table of BROKER.md", () => {
  const table: [ErrorCode[], string, boolean | "guest"][] = [
    [["timeout"], "timeout", true],
    [["sandbox_crashed", "internal"], "retryable_error", true],
    [["handler_error"], "handler_error", "guest"],
    [["output_invalid", "output_too_large", "no_output"], "validation_error", false],
    [
      [
        "trap",
        "bad_pointer",
        "memory_limit",
        "table_limit",
        "host_call_budget",
        "policy_fault",
        "secret_leak",
        "entry_missing",
        "unknown_import",
        "module_invalid",
        "manifest_invalid",
        "digest_mismatch",
        "not_found",
        "registry_invalid",
      ],
      "permanent_error",
      false,
    ],
  ];
  for (const [codes, errorType, retryable] of table) {
    for (const code of codes) {
      // The table wins over what the outcome says, except for handler_error.
      for (const outcomeRetryable of [true, false]) {
        const r = toStepExecutionResult(
          failed({ code, message: "m", retryable: outcomeRetryable }),
          INFO,
        );
        assert.equal(r.metadata.error_type, errorType, code);
        assert.equal(r.error?.error_type, errorType, code);
        const expected = retryable === "guest" ? outcomeRetryable : retryable;
        assert.equal(r.metadata.retryable, expected, code);
        assert.equal(r.error?.retryable, expected, code);
      }
    }
  }
});

Deno.test("toStepExecutionResult() maps a completed outcome to a success", () => {
  const r = toStepExecutionResult(completed({ total: 3, items: ["a"] }), {
    ...INFO,
    handlerVersion: "catalog.transform@1.2.0",
    stepName: "shape_order",
    workerHostname: "host-1",
  });
  assertParses(r, "completed");
  assert.equal(r.success, true);
  assert.equal(r.status, "completed");
  assert.deepEqual(r.result, { total: 3, items: ["a"] });
  assert.equal(r.error, null);
  assert.equal(r.orchestration_metadata, null);
  assert.equal(r.metadata.retryable, false);
  assert.equal(r.metadata.execution_time_ms, 250);
  assert.equal(r.metadata.completed_at, "2025-03-01T10:00:00.250Z");
  assert.equal(r.metadata.started_at, "2025-03-01T10:00:00.000Z");
  assert.equal(r.metadata.worker_id, INFO.workerId);
  assert.equal(r.metadata.worker_hostname, "host-1");
  assert.equal(r.metadata.handler_version, "catalog.transform@1.2.0");
  assert.equal(r.metadata.error_type, undefined);
  assert.equal(r.metadata.custom.step_name, "shape_order");
  assert.deepEqual(r.metadata.custom.wasm_broker_metrics, emptyMetrics());
  assert.equal(r.metadata.custom.wasm_broker_code, undefined);
  assert.deepEqual(r.metadata.context, {});
});

Deno.test("toStepExecutionResult() passes scalar and null results through", () => {
  for (const value of [null, 0, "text", [1, 2], true]) {
    const r = toStepExecutionResult(completed(value), INFO);
    assertParses(r, JSON.stringify(value));
    assert.deepEqual(r.result, value);
  }
});

Deno.test("toStepExecutionResult() passes decision and batch outcomes through untouched", () => {
  const decision = {
    decision_point_outcome: { type: "create_steps", step_names: ["ship", "notify"] },
    reason: "rule 2",
  };
  const batches = {
    batch_processing_outcome: {
      type: "create_batches",
      worker_template_name: "process_batch",
      worker_count: 2,
      cursor_configs: [
        { batch_id: "001", start_cursor: 0, end_cursor: 50, batch_size: 50 },
        { batch_id: "002", start_cursor: 50, end_cursor: 100, batch_size: 50 },
      ],
      total_items: 100,
    },
  };
  for (
    const [result, stepType] of [
      [decision, "decision"],
      [{ decision_point_outcome: { type: "no_branches" } }, "decision"],
      [batches, "batchable"],
      [{ batch_processing_outcome: { type: "no_batches" } }, "batchable"],
      [decision, undefined],
    ] as const
  ) {
    const r = toStepExecutionResult(completed(result), { ...INFO, stepType });
    assertParses(r, JSON.stringify(result));
    assert.equal(r.status, "completed");
    assert.deepEqual(r.result, result);
  }
});

Deno.test("toStepExecutionResult() fails a decision or batchable step whose outcome Tasker could not read", () => {
  const cases: [unknown, "decision" | "batchable"][] = [
    [{ decision_point_outcome: { type: "create_steps" } }, "decision"],
    [{ decision_point_outcome: { type: "maybe" } }, "decision"],
    [{ decision_point_outcome: "no_branches" }, "decision"],
    [{ decision_point_outcome: { type: "create_steps", step_names: [""] } }, "decision"],
    [{ batch_processing_outcome: { type: "create_batches", worker_count: -1 } }, "batchable"],
    [{
      batch_processing_outcome: {
        type: "create_batches",
        worker_template_name: "w",
        worker_count: 1,
        cursor_configs: [{ batch_id: 1 }],
        total_items: 1,
      },
    }, "batchable"],
  ];
  for (const [result, stepType] of cases) {
    const r = toStepExecutionResult(completed(result), { ...INFO, stepType });
    assertParses(r, JSON.stringify(result));
    assert.equal(r.success, false, JSON.stringify(result));
    assert.equal(r.metadata.error_code, "output_invalid");
    assert.equal(r.metadata.error_type, "validation_error");
    assert.equal(r.metadata.retryable, false);
    const field = stepType === "decision" ? "decision_point_outcome" : "batch_processing_outcome";
    assert.equal(r.error?.context?.field, field);
    assert.ok(Array.isArray(r.error?.context?.issues));
  }
  // A standard step may carry a field of that name: it is its own data.
  const standard = toStepExecutionResult(
    completed({ decision_point_outcome: "whatever" }),
    { ...INFO, stepType: "standard" },
  );
  assert.equal(standard.success, true);
});

Deno.test("toStepExecutionResult() reports the guest's code, status and backoff hint", () => {
  const r = toStepExecutionResult(
    failed({
      code: "handler_error",
      message: "status 503 is not expected",
      retryable: true,
      details: {
        guest_code: "http_status",
        guest_details: {
          status: 503,
          method: "GET",
          url: "https://api.example/x",
          backoff_hint: { backoff_type: "ServerRequested", delay_seconds: 30 },
        },
      },
    }),
    INFO,
  );
  assertParses(r, "http_status");
  assert.equal(r.status, "failed");
  assert.equal(r.metadata.error_code, "http_status");
  assert.equal(r.metadata.custom.wasm_broker_code, "handler_error");
  assert.equal(r.metadata.error_type, "handler_error");
  assert.equal(r.metadata.retryable, true);
  assert.equal(r.error?.status_code, 503);
  assert.equal(r.error?.context?.guest_code, "http_status");
  assert.deepEqual(r.orchestration_metadata, {
    headers: {},
    custom: {},
    backoff_hint: { backoff_type: "ServerRequested", delay_seconds: 30 },
  });
});

Deno.test("toStepExecutionResult() drops a backoff hint or status Tasker could not read", () => {
  for (
    const hint of [
      { backoff_type: "Soon", delay_seconds: 3 },
      { backoff_type: "RateLimit", delay_seconds: -1 },
      { backoff_type: "RateLimit", delay_seconds: 1.5 },
      { backoff_type: "RateLimit", delay_seconds: 2 ** 32 },
      { backoff_type: "RateLimit" },
      "30s",
    ]
  ) {
    const r = toStepExecutionResult(
      failed({
        code: "handler_error",
        message: "m",
        retryable: true,
        details: { guest_code: "http_status", guest_details: { status: 99, backoff_hint: hint } },
      }),
      INFO,
    );
    assertParses(r, JSON.stringify(hint));
    assert.equal(r.orchestration_metadata, null);
    assert.equal(r.error?.status_code, undefined);
  }
  // A status only counts for http_status failures.
  const other = toStepExecutionResult(
    failed({
      code: "handler_error",
      message: "m",
      retryable: false,
      details: { guest_code: "validation_failed", guest_details: { status: 404 } },
    }),
    INFO,
  );
  assert.equal(other.error?.status_code, undefined);
});

Deno.test("toStepExecutionResult() uses the broker code when the guest gave none", () => {
  const r = toStepExecutionResult(
    failed({
      code: "handler_error",
      message: "guest exited with status 3",
      retryable: false,
      details: { exit_status: 3 },
    }),
    INFO,
  );
  assert.equal(r.metadata.error_code, "handler_error");
  for (const guestCode of ["", 7, null]) {
    const g = toStepExecutionResult(
      failed({
        code: "handler_error",
        message: "m",
        retryable: false,
        details: { guest_code: guestCode },
      }),
      INFO,
    );
    assert.equal(g.metadata.error_code, "handler_error");
  }
});

Deno.test("toStepExecutionResult() treats a failed outcome without an error as internal", () => {
  const r = toStepExecutionResult(
    { status: "failed", result: null, error: null, metrics: emptyMetrics(), logs: [] },
    INFO,
  );
  assertParses(r, "no error");
  assert.equal(r.metadata.error_code, "internal");
  assert.equal(r.metadata.retryable, true);
});

Deno.test("toStepExecutionResult() bounds error.context and error.message", () => {
  const huge = "x".repeat(MAX_ERROR_CONTEXT_BYTES * 2);
  const r = toStepExecutionResult(
    failed({
      code: "output_invalid",
      message: "m".repeat(MAX_ERROR_MESSAGE_CHARS + 100),
      retryable: false,
      details: { reason: "schema", body: huge, after: 1 },
    }),
    INFO,
  );
  assertParses(r, "huge");
  const context = r.error?.context ?? {};
  assert.ok(new TextEncoder().encode(JSON.stringify(context)).length <= MAX_ERROR_CONTEXT_BYTES);
  assert.equal(context.reason, "schema");
  assert.equal(context.after, 1);
  assert.equal(context.body, undefined);
  assert.deepEqual((context._truncated as { dropped_keys: string[] }).dropped_keys, ["body"]);
  assert.ok(r.error!.message.length <= MAX_ERROR_MESSAGE_CHARS + 20);
  assert.ok(r.error!.message.endsWith("(truncated)"));
});

Deno.test("boundedContext() makes details JSON-safe", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.ok(typeof boundedContext(cyclic)._unserializable === "string");
  assert.deepEqual(
    boundedContext({
      big: 10n,
      nan: Number.NaN,
      gone: undefined,
      when: new Date(0),
      nested: { ok: true },
    }),
    { big: "10", nan: null, when: "1970-01-01T00:00:00.000Z", nested: { ok: true } },
  );
  // Multi-byte text counts in UTF-8 bytes.
  const wide = boundedContext({ text: "é".repeat(600) }, 1024);
  assert.equal(wide.text, undefined);
  assert.ok(new TextEncoder().encode(JSON.stringify(wide)).length <= 1024);
  // Many keys: the dropped list is bounded too.
  const many: Record<string, string> = {};
  for (let i = 0; i < 500; i++) many[`key_${i}`] = "v".repeat(100);
  const out = boundedContext(many, 4096);
  assert.ok(new TextEncoder().encode(JSON.stringify(out)).length <= 4096);
  assert.equal((out._truncated as { dropped_keys: string[] }).dropped_keys.length, 20);
  // Whatever the details and the bound, the output fits.
  for (let maxBytes = 64; maxBytes < 3000; maxBytes += 37) {
    const details: Record<string, unknown> = {};
    for (let i = 0; i < (maxBytes % 13) + 2; i++) {
      details[`k${"é".repeat(i % 5)}${i}`] = i % 3 === 0
        ? "x".repeat(maxBytes / 4)
        : { n: i, s: "y".repeat(i * 7) };
    }
    const bounded = boundedContext(details, maxBytes);
    assert.ok(
      new TextEncoder().encode(JSON.stringify(bounded)).length <= maxBytes,
      String(maxBytes),
    );
  }
  assert.throws(() => boundedContext({}, 63), RangeError);
});

Deno.test("failureResult() reports broker-side failures with the caller's retryable", () => {
  const shutdown = failureResult(INFO, {
    code: "worker_shutdown",
    message: "handed back",
    retryable: true,
  });
  assertParses(shutdown, "worker_shutdown");
  assert.equal(shutdown.metadata.error_type, "retryable_error");
  assert.equal(shutdown.metadata.error_code, "worker_shutdown");
  assert.equal(shutdown.metadata.retryable, true);
  assert.equal(shutdown.metadata.custom.wasm_broker_metrics, undefined);
  const digest = failureResult(INFO, {
    code: "digest_mismatch",
    message: "module bytes changed",
    retryable: false,
    details: { expected: "sha256:aa", actual: "sha256:bb" },
  });
  assertParses(digest, "digest_mismatch");
  assert.equal(digest.metadata.error_type, "permanent_error");
  assert.equal(digest.status, "error");
  assert.deepEqual(digest.error?.context, { expected: "sha256:aa", actual: "sha256:bb" });
  for (const code of ALL_ERROR_CODES) {
    for (const retryable of [true, false]) {
      const r = failureResult(INFO, { code, message: "m", retryable });
      assertParses(r, code);
      assert.equal(r.metadata.retryable, retryable);
    }
  }
});

Deno.test("execution_time_ms is never negative", () => {
  const r = toStepExecutionResult(completed({}), {
    ...INFO,
    completedAt: new Date(INFO.startedAt.getTime() - 5),
  });
  assert.equal(r.metadata.execution_time_ms, 0);
});

Deno.test("StepExecutionResultSchema rejects what orchestration cannot parse", () => {
  const good = toStepExecutionResult(
    failed({ code: "timeout", message: "late", retryable: true }),
    INFO,
  );
  assertParses(good, "good");
  // Mutations poke at arbitrary nested fields of a plain JSON copy.
  // deno-lint-ignore no-explicit-any
  type Loose = Record<string, any>;
  const mutations: [string, (r: Loose) => void][] = [
    ["error without message", (r) => delete r.error.message],
    ["error without retryable", (r) => delete r.error.retryable],
    ["error.retryable not bool", (r) => (r.error.retryable = "yes")],
    ["error.status_code out of range", (r) => (r.error.status_code = 70000)],
    ["error.context not an object", (r) => (r.error.context = [1])],
    ["orchestration_metadata without headers", (r) => (r.orchestration_metadata = { custom: {} })],
    ["orchestration_metadata without custom", (r) => (r.orchestration_metadata = { headers: {} })],
    [
      "header value not a string",
      (r) => (r.orchestration_metadata = { headers: { a: 1 }, custom: {} }),
    ],
    ["bad backoff type", (r) => (r.orchestration_metadata = {
      headers: {},
      custom: {},
      backoff_hint: { backoff_type: "Later", delay_seconds: 1 },
    })],
    ["status not in enum", (r) => (r.status = "done")],
    ["metadata.retryable missing", (r) => delete r.metadata.retryable],
    ["metadata.retryable not bool", (r) => (r.metadata.retryable = 1)],
    ["metadata.error_type unknown", (r) => (r.metadata.error_type = "oops")],
    ["completed_at not RFC3339", (r) => (r.metadata.completed_at = "yesterday")],
    ["execution_time_ms fractional", (r) => (r.metadata.execution_time_ms = 1.5)],
    ["custom missing", (r) => delete r.metadata.custom],
    ["step_uuid not a UUID", (r) => (r.step_uuid = "step-1")],
    ["result missing", (r) => delete r.result],
    ["success with status failed", (r) => (r.success = true)],
    ["failure without error", (r) => (r.error = null)],
    ["retryable disagreement", (r) => (r.metadata.retryable = false)],
    ["success with an error", (r) => {
      r.success = true;
      r.status = "completed";
    }],
  ];
  for (const [label, mutate] of mutations) {
    const copy = structuredClone(good) as Loose;
    mutate(copy);
    assert.equal(StepExecutionResultSchema.safeParse(copy).success, false, label);
  }
});

Deno.test("docs/tasker-protocol.md's outcome table names every code once, with ERROR_MAPPING's type and status", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/tasker-protocol.md", import.meta.url));
  const section = doc.slice(doc.indexOf("### The outcome mapping")).split("\n\n")[1];
  const rows = section.split("\n").filter((l) => l.startsWith("| `") || l.startsWith("| broker"));
  const documented = new Map<string, { errorType: string; status: string }>();
  for (const row of rows) {
    const [codes, errorType, , status] = row.split("|").slice(1).map((c) => c.trim());
    if (codes.startsWith("broker ")) continue; // BROKER_FAILURE_MAPPING, not a runtime code
    for (const [, code] of codes.matchAll(/`([a-z_]+)`/g)) {
      assert.ok(!documented.has(code), `${code} is listed twice`);
      documented.set(code, {
        errorType: errorType.replaceAll("`", ""),
        status: status.replaceAll("`", ""),
      });
    }
  }
  assert.deepEqual([...documented.keys()].sort(), [...ALL_ERROR_CODES].sort());
  for (const code of ALL_ERROR_CODES) {
    const { errorType, status } = ERROR_MAPPING[code];
    assert.deepEqual(documented.get(code), { errorType, status }, code);
  }
});
