import assert from "node:assert/strict";
import { SpanStatusCode } from "@opentelemetry/api";
import { WasmBrokerError } from "../errors.ts";
import { createSecretScanner } from "../runtime/secret_scan.ts";
import { emptyMetrics, type StepOutcome } from "../runtime/step_outcome.ts";
import { redactAttributes, startStepTrace, type StepSpanAttributes } from "./tracing.ts";
import { RecordingTracer } from "../../tests/support/recording_tracer.ts";

const STEP: StepSpanAttributes = {
  correlation_id: "0199c3e0-ccdb-7581-87ab-3f67daeaa4a5",
  task_uuid: "0199c3e0-ccdb-7581-87ab-000000000001",
  step_uuid: "0199c3e0-ccdb-7581-87ab-000000000002",
  step_name: "fetch_order",
  namespace: "catalog",
};

function outcome(overrides: Partial<StepOutcome> = {}): StepOutcome {
  return {
    status: "completed",
    result: {},
    error: null,
    metrics: {
      ...emptyMetrics(),
      compile_ms: 2,
      instantiate_us: 500,
      run_ms: 10,
      memory_high_water_bytes: 65_536,
      host_calls: { "http.request": 3, "io.read_input": 1 },
      policy_denials: 1,
      denials_by_code: { "http.host_not_allowed": 1 },
    },
    logs: [],
    ...overrides,
  };
}

Deno.test("redactAttributes() redacts secrets in every value type and drops empty ones", () => {
  const secret = "s3cr3t-t0ken-value";
  const attrs = redactAttributes({
    plain: `Bearer ${secret}`,
    encoded: `x=${btoa(secret)}`,
    list: ["ok", `a${secret}b`],
    count: 7,
    flag: true,
    gone: undefined,
    none: null,
  }, [secret]);
  assert.deepEqual(attrs, {
    plain: "Bearer [REDACTED]",
    encoded: "x=[REDACTED]",
    list: ["ok", "a[REDACTED]b"],
    count: 7,
    flag: true,
  });
  // A number that is a secret's text does not survive either.
  assert.deepEqual(redactAttributes({ pin: 12345678, ids: [1, 12345678] }, ["12345678"]), {
    pin: "[REDACTED]",
    ids: ["[REDACTED]"],
  });
  // No secrets (or only empty ones): values pass through untouched.
  assert.deepEqual(redactAttributes({ a: "x" }, []), { a: "x" });
  assert.deepEqual(redactAttributes({ a: "x" }, [""]), { a: "x" });
  // A prepared scanner is accepted too.
  assert.deepEqual(redactAttributes({ a: secret }, createSecretScanner([secret])), {
    a: "[REDACTED]",
  });
});

Deno.test("a step trace carries Tasker's attributes and nests claim, sandbox spans and report", async () => {
  const tracer = new RecordingTracer();
  const step = startStepTrace(STEP, { tracer });
  assert.ok(step.recording);
  assert.deepEqual(step.ids, {
    trace_id: "0af7651916cd43dd8448eb211c80319c",
    span_id: step.span.spanContext().spanId,
  });
  const claimed = await step.phase("worker.claim", () => "claimed", { "tasker.attempt": 1 });
  assert.equal(claimed, "claimed");
  step.recordExecution(outcome(), { start: 1000, end: 1100 });
  await step.phase("worker.report", async () => {});
  step.end();
  step.end(); // idempotent

  const root = tracer.one("worker.step_execution");
  for (const [key, value] of Object.entries(STEP)) assert.equal(root.attributes[key], value);
  assert.equal(root.parentId, undefined);
  assert.equal(root.status.code, SpanStatusCode.OK);
  assert.equal(root.ended, 1);
  const rootId = root.spanContext().spanId;

  const claim = tracer.one("worker.claim");
  assert.equal(claim.parentId, rootId);
  assert.equal(claim.attributes["tasker.attempt"], 1);
  assert.equal(claim.ended, 1);
  assert.equal(tracer.one("worker.report").parentId, rootId);

  const compile = tracer.one("worker.compile");
  const instantiate = tracer.one("worker.instantiate");
  const run = tracer.one("worker.run");
  for (const span of [compile, instantiate, run]) {
    assert.equal(span.parentId, rootId);
    assert.equal(span.attributes["wasm.timing"], "derived");
  }
  // Laid out backwards from the end of the window.
  assert.equal(run.startTime, 1090);
  assert.equal(run.endTime, 1100);
  assert.equal(instantiate.startTime, 1089.5);
  assert.equal(instantiate.endTime, 1090);
  assert.equal(compile.startTime, 1087.5);
  assert.equal(compile.endTime, 1089.5);
  assert.equal(run.attributes["wasm.host_calls"], 4);
  assert.equal(run.attributes["wasm.memory_high_water_bytes"], 65_536);
  assert.equal(run.attributes["wasm.status"], "completed");

  const calls = tracer.byName("wasm.host_call");
  assert.equal(calls.length, 2);
  const http = calls.find((c) => c.attributes["wasm.capability"] === "http")!;
  assert.equal(http.parentId, run.spanContext().spanId);
  assert.equal(http.attributes["wasm.function"], "request");
  assert.equal(http.attributes["wasm.host_call.count"], 3);
  assert.equal(http.attributes["wasm.capability.denials"], 1);
  assert.equal(http.startTime, 1090);
  assert.equal(http.endTime, 1100);
  for (const span of tracer.spans) assert.equal(span.ended, 1, `${span.name} ended once`);
});

Deno.test("timed host calls get a span each where they ran; the calls beyond them one counted span per function", () => {
  const tracer = new RecordingTracer();
  const step = startStepTrace(STEP, { tracer });
  step.recordExecution({
    ...outcome(),
    // Two of the three http calls and the read were timed; one http call was only counted.
    host_call_log: [
      { call: "io.read_input", at_us: 500, us: 100 },
      { call: "http.request", at_us: 1000, us: 4000, denied: true },
      { call: "http.request", at_us: 6000, us: 30_000 }, // cut at the run's end
    ],
  }, { end: 1100 });
  const calls = tracer.byName("wasm.host_call");
  const measured = calls.filter((c) => c.attributes["wasm.timing"] === "measured");
  assert.deepEqual(
    measured.map((c) => [
      c.attributes["wasm.function"],
      c.startTime,
      c.endTime,
      c.attributes["wasm.host_call.denied"],
    ]),
    [
      ["read_input", 1090.5, 1090.6, false],
      ["request", 1091, 1095, true],
      ["request", 1096, 1100, false],
    ],
  );
  assert.equal(measured[1].attributes["wasm.host_call.us"], 4000);
  for (const c of measured) assert.equal(c.parentId, tracer.one("worker.run").spanContext().spanId);
  const counted = calls.filter((c) => c.attributes["wasm.timing"] === "derived");
  assert.equal(counted.length, 1, "io.read_input was timed whole; one http call was not");
  assert.equal(counted[0].attributes["wasm.function"], "request");
  assert.equal(counted[0].attributes["wasm.host_call.count"], 1);
  assert.equal(counted[0].startTime, 1090);
  assert.equal(counted[0].endTime, 1100);
});

Deno.test("derived sandbox spans never start before the window", () => {
  const tracer = new RecordingTracer();
  const step = startStepTrace(STEP, { tracer });
  step.recordExecution(outcome(), { start: 1095, end: 1100 });
  assert.equal(tracer.one("worker.run").startTime, 1095);
  assert.equal(tracer.one("worker.instantiate").startTime, 1095);
  assert.equal(tracer.one("worker.compile").startTime, 1095);
});

Deno.test("recordExecution() adds nothing for a guest that was never instantiated", () => {
  const tracer = new RecordingTracer();
  const step = startStepTrace(STEP, { tracer });
  step.recordExecution(
    outcome({
      status: "failed",
      result: null,
      error: { code: "unknown_import", message: "refused", retryable: false },
      metrics: emptyMetrics(),
    }),
  );
  assert.deepEqual(tracer.spans.map((s) => s.name), ["worker.step_execution"]);
});

Deno.test("a step killed at its deadline gets a run span but no empty instantiate span", () => {
  const tracer = new RecordingTracer();
  const step = startStepTrace(STEP, { tracer });
  step.recordExecution(
    outcome({
      status: "failed",
      result: null,
      error: { code: "timeout", message: "late", retryable: true },
      metrics: { ...emptyMetrics(), run_ms: 50 },
    }),
    { start: 0, end: 100 },
  );
  assert.deepEqual(tracer.spans.map((s) => s.name), ["worker.step_execution", "worker.run"]);
  const run = tracer.one("worker.run");
  assert.equal(run.startTime, 50);
  assert.equal(run.attributes["error.type"], "timeout");
});

Deno.test("a failed run and a failed step carry status error and the error code", () => {
  const tracer = new RecordingTracer();
  const step = startStepTrace(STEP, { tracer });
  step.recordExecution(
    outcome({
      status: "failed",
      result: null,
      error: {
        code: "trap",
        message: "guest trapped (unreachable)",
        retryable: false,
        details: { trap: "unreachable" },
      },
    }),
  );
  step.end({
    code: "trap",
    message: "guest trapped",
    error_type: "permanent_error",
    retryable: false,
  });
  const run = tracer.one("worker.run");
  assert.equal(run.status.code, SpanStatusCode.ERROR);
  assert.equal(run.attributes["error.type"], "trap");
  assert.equal(run.attributes["wasm.trap_kind"], "unreachable");
  const root = tracer.one("worker.step_execution");
  assert.deepEqual(root.status, { code: SpanStatusCode.ERROR, message: "guest trapped" });
  assert.equal(root.attributes["error.type"], "trap");
  assert.equal(root.attributes["tasker.error_type"], "permanent_error");
  assert.equal(root.attributes["tasker.retryable"], false);
});

Deno.test("phase() records a throw on its span with the error's code and rethrows it", async () => {
  const tracer = new RecordingTracer();
  const step = startStepTrace(STEP, { tracer });
  await assert.rejects(
    step.phase("worker.claim", () => {
      throw new WasmBrokerError("internal", "claim failed");
    }),
    WasmBrokerError,
  );
  await assert.rejects(
    step.phase(
      "worker.report",
      () => Promise.reject(Object.assign(new Error("gone"), { code: "57P01" })),
    ),
    /gone/,
  );
  const claim = tracer.one("worker.claim");
  assert.equal(claim.status.code, SpanStatusCode.ERROR);
  assert.equal(claim.attributes["error.type"], "internal");
  assert.equal(claim.ended, 1);
  const report = tracer.one("worker.report");
  assert.equal(report.attributes["error.type"], "57P01");
  assert.equal(report.status.message, "gone");
});

Deno.test("secrets never reach span attributes or status messages", async () => {
  const secret = "sk_live_0123456789abcdef";
  const tracer = new RecordingTracer();
  const step = startStepTrace(
    {
      ...STEP,
      step_name: `leak ${secret}`,
      "http.url": `https://x/?k=${encodeURIComponent(secret)}`,
    },
    { tracer, secrets: [secret] },
  );
  step.setAttributes({
    note: `hex ${[...new TextEncoder().encode(secret)].map((b) => b.toString(16)).join("")}`,
  });
  await step.phase("worker.claim", () => {}, { detail: secret });
  await assert.rejects(step.phase("worker.report", () => {
    throw new Error(`token ${secret} rejected`);
  }));
  step.recordExecution(
    outcome({
      status: "failed",
      result: null,
      error: { code: "handler_error", message: `bad ${secret}`, retryable: false },
    }),
  );
  step.end({ code: "handler_error", message: `failed with ${secret}` });
  const dump = JSON.stringify(tracer.spans.map((s) => ({ a: s.attributes, s: s.status })));
  assert.ok(!dump.includes(secret), dump);
  assert.ok(!dump.includes(encodeURIComponent(secret)));
  assert.ok(dump.includes("[REDACTED]"));
});

Deno.test({
  name: "without a tracer provider a step trace records nothing and still runs phases",
  // With OTEL_DENO=true, Deno registers a provider and the trace records.
  ignore: Deno.env.get("OTEL_DENO") === "true",
}, async () => {
  const step = startStepTrace(STEP, { secrets: ["never-built-scanner"] });
  assert.equal(step.recording, false);
  assert.equal(step.ids, undefined);
  assert.equal(await step.phase("worker.claim", () => 42), 42);
  await assert.rejects(step.phase("worker.report", () => Promise.reject(new Error("x"))), /x/);
  step.recordExecution(outcome());
  step.setAttributes({ a: 1 });
  step.end({ code: "trap" });
});
