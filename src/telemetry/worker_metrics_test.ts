import assert from "node:assert/strict";
import { errorFromThrown } from "../runtime/run_step.ts";
import { emptyMetrics, type StepOutcome } from "../runtime/step_outcome.ts";
import { MetricsRegistry } from "./metrics_registry.ts";
import { createWorkerMetrics } from "./worker_metrics.ts";

function outcome(overrides: Partial<StepOutcome> = {}): StepOutcome {
  return {
    status: "completed",
    result: {},
    error: null,
    metrics: emptyMetrics(),
    logs: [],
    ...overrides,
  };
}

/** A real trap from a real module: `run` is `unreachable`. */
function realTrap(): unknown {
  const bytes = new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00, // magic, version
    0x01,
    0x04,
    0x01,
    0x60,
    0x00,
    0x00, // type: () -> ()
    0x03,
    0x02,
    0x01,
    0x00, // function 0 has type 0
    0x07,
    0x07,
    0x01,
    0x03,
    0x72,
    0x75,
    0x6e,
    0x00,
    0x00, // export "run"
    0x0a,
    0x05,
    0x01,
    0x03,
    0x00,
    0x00,
    0x0b, // body: unreachable; end
  ]);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  try {
    (instance.exports.run as () => void)();
  } catch (error) {
    return error;
  }
  throw new Error("the module did not trap");
}

Deno.test("createWorkerMetrics() registers Tasker's worker metrics under their Prometheus names", async () => {
  const registry = new MetricsRegistry();
  createWorkerMetrics(registry);
  const text = await registry.render();
  for (
    const [name, type] of [
      ["tasker_steps_executions_total", "counter"],
      ["tasker_steps_successes_total", "counter"],
      ["tasker_steps_failures_total", "counter"],
      ["tasker_steps_claimed_total", "counter"],
      ["tasker_steps_results_submitted_total", "counter"],
      ["tasker_step_execution_duration_milliseconds", "histogram"],
      ["tasker_step_claim_duration_milliseconds", "histogram"],
      ["tasker_step_result_submission_duration_milliseconds", "histogram"],
      ["tasker_steps_active_executions", "gauge"],
      ["tasker_queue_depth", "gauge"],
      ["wasm_broker_module_compile_duration_milliseconds", "histogram"],
      ["wasm_broker_instance_instantiate_duration_milliseconds", "histogram"],
      ["wasm_broker_guest_run_duration_milliseconds", "histogram"],
      ["wasm_broker_guest_memory_high_water_bytes", "histogram"],
      ["wasm_broker_host_calls_total", "counter"],
      ["wasm_broker_policy_denials_total", "counter"],
      ["wasm_broker_traps_total", "counter"],
      ["wasm_broker_timeouts_total", "counter"],
      ["wasm_broker_sandbox_restarts_total", "counter"],
      ["wasm_broker_poison_messages_total", "counter"],
      ["wasm_broker_messages_read_total", "counter"],
      ["wasm_broker_messages_not_served_total", "counter"],
      ["wasm_broker_visibility_extensions_total", "counter"],
      ["wasm_broker_db_errors_total", "counter"],
    ]
  ) {
    assert.ok(text.includes(`# TYPE ${name} ${type}\n`), `${name} ${type}`);
  }
});

Deno.test("beginStep() counts executions and active steps; finish() records the end exactly once", () => {
  let clock = 1000;
  const metrics = createWorkerMetrics(new MetricsRegistry(), { now: () => clock });
  const labels = { namespace: "catalog", step_name: "validate" };
  const stepLabels = { ...labels, handler_type: "wasm" };
  const active = { namespace: "catalog", handler_type: "wasm" };

  const ok = metrics.beginStep(labels);
  const bad = metrics.beginStep(labels);
  assert.equal(metrics.stepExecutions.value(stepLabels), 2);
  assert.equal(metrics.activeExecutions.value(active), 2);

  clock += 12.5;
  assert.equal(ok.finish({ success: true }), 12.5);
  assert.equal(ok.finish({ success: false }), 12.5); // no-op
  clock += 30;
  assert.equal(
    bad.finish({ success: false, error_type: "permanent_error", retryable: false }),
    42.5,
  );

  assert.equal(metrics.activeExecutions.value(active), 0);
  assert.equal(metrics.stepSuccesses.value(stepLabels), 1);
  assert.equal(
    metrics.stepFailures.value({
      ...stepLabels,
      error_type: "permanent_error",
      retryable: "false",
    }),
    1,
  );
  assert.deepEqual(
    metrics.executionDuration.snapshot({ ...stepLabels, result: "success" })?.sum,
    12.5,
  );
  assert.deepEqual(
    metrics.executionDuration.snapshot({ ...stepLabels, result: "error" })?.sum,
    42.5,
  );
});

Deno.test("beginStep() takes Tasker's handler_type from the step or the option", () => {
  const metrics = createWorkerMetrics(new MetricsRegistry(), { handlerType: "wasm-broker" });
  metrics.beginStep({ namespace: "n", step_name: "s" }).finish({ success: false });
  metrics.beginStep({ namespace: "n", step_name: "s", handler_type: "rust" });
  assert.equal(
    metrics.stepFailures.value({
      namespace: "n",
      step_name: "s",
      handler_type: "wasm-broker",
      error_type: "unknown",
      retryable: "false",
    }),
    1,
  );
  assert.equal(metrics.activeExecutions.value({ namespace: "n", handler_type: "rust" }), 1);
});

Deno.test("recordClaim() and recordSubmission() count and time", () => {
  const metrics = createWorkerMetrics(new MetricsRegistry());
  metrics.recordClaim({ namespace: "catalog", claim_method: "event" }, 0.8);
  metrics.recordClaim({ namespace: "catalog", claim_method: "poll" }, 3);
  metrics.recordSubmission({ namespace: "catalog", result_type: "success" }, 1.2);
  assert.equal(metrics.stepsClaimed.value({ namespace: "catalog", claim_method: "event" }), 1);
  assert.equal(metrics.stepsClaimed.value({ namespace: "catalog", claim_method: "poll" }), 1);
  assert.equal(
    metrics.claimDuration.snapshot({ namespace: "catalog", claim_method: "poll" })?.sum,
    3,
  );
  assert.equal(metrics.resultsSubmitted.value({ namespace: "catalog", result_type: "success" }), 1);
  assert.equal(
    metrics.submissionDuration.snapshot({ namespace: "catalog", result_type: "success" })?.count,
    1,
  );
});

Deno.test("recordOutcome() derives the WASM metrics from a completed step's metrics", async () => {
  const registry = new MetricsRegistry();
  const metrics = createWorkerMetrics(registry);
  const h = { handler: "catalog.http_request" };
  metrics.recordOutcome(
    h,
    outcome({
      metrics: {
        ...emptyMetrics(),
        compile_ms: 3.5,
        instantiate_us: 16,
        run_ms: 42,
        memory_high_water_bytes: 131_072,
        host_calls: { "http.request": 2, "io.read_input": 1, "log.write": 0 },
        policy_denials: 3,
        denials_by_code: { "http.host_not_allowed": 2, "secrets.not_granted": 1 },
        log: { records: 10, dropped: 4, truncated: 1 },
      },
    }),
  );
  assert.equal(metrics.compileDuration.snapshot(h)?.sum, 3.5);
  assert.equal(metrics.instantiateDuration.snapshot(h)?.sum, 0.016);
  assert.equal(metrics.runDuration.snapshot(h)?.sum, 42);
  assert.deepEqual(
    metrics.memoryHighWater.snapshot(h)?.buckets.find((b) => b.count > 0)?.le,
    131_072,
  );
  assert.equal(metrics.hostCalls.value({ ...h, capability: "http", function: "request" }), 2);
  assert.equal(metrics.hostCalls.value({ ...h, capability: "io", function: "read_input" }), 1);
  assert.equal(metrics.hostCalls.seriesCount, 2); // zero counts add no series
  assert.equal(
    metrics.policyDenials.value({ ...h, capability: "http", code: "host_not_allowed" }),
    2,
  );
  assert.equal(
    metrics.policyDenials.value({ ...h, capability: "secrets", code: "not_granted" }),
    1,
  );
  assert.equal(metrics.guestLogDropped.value(h), 4);
  assert.equal(metrics.stepErrors.seriesCount, 0);

  const text = await registry.render();
  assert.ok(
    text.includes(
      'wasm_broker_host_calls_total{handler="catalog.http_request",capability="http",function="request"} 2\n',
    ),
  );
});

Deno.test("recordOutcome() skips compile and instantiation that did not happen", () => {
  const metrics = createWorkerMetrics(new MetricsRegistry());
  const h = { handler: "g" };
  // A reused module (compile_ms 0) and a guest refused before instantiation.
  metrics.recordOutcome(
    h,
    outcome({ metrics: { ...emptyMetrics(), instantiate_us: 5, run_ms: 1 } }),
  );
  metrics.recordOutcome(
    h,
    outcome({
      status: "failed",
      result: null,
      error: { code: "unknown_import", message: "refused", retryable: false },
    }),
  );
  assert.equal(metrics.compileDuration.snapshot(h), undefined);
  assert.equal(metrics.instantiateDuration.snapshot(h)?.count, 1);
  assert.equal(metrics.runDuration.snapshot(h)?.count, 1);
  assert.equal(metrics.memoryHighWater.snapshot(h), undefined);
  assert.equal(metrics.stepErrors.value({ handler: "g", code: "unknown_import" }), 1);
});

Deno.test("recordOutcome() counts a real trap by the kind run_step puts in its details", () => {
  const metrics = createWorkerMetrics(new MetricsRegistry());
  const error = errorFromThrown(realTrap());
  assert.equal(error.code, "trap");
  metrics.recordOutcome({ handler: "g" }, outcome({ status: "failed", result: null, error }));
  assert.equal(metrics.traps.value({ handler: "g", kind: "unreachable" }), 1);
  assert.equal(metrics.stepErrors.value({ handler: "g", code: "trap" }), 1);
  assert.equal(metrics.timeouts.value({ handler: "g" }), 0);
});

Deno.test("recordOutcome() counts timeouts, and a trap without a usable kind as other", () => {
  const metrics = createWorkerMetrics(new MetricsRegistry());
  metrics.recordOutcome(
    { handler: "g" },
    outcome({
      status: "failed",
      result: null,
      error: { code: "timeout", message: "late", retryable: true },
      metrics: { ...emptyMetrics(), run_ms: 50 },
    }),
  );
  for (const trap of [undefined, 42, "Not A Kind!", "x".repeat(40)]) {
    metrics.recordOutcome(
      { handler: "g" },
      outcome({
        status: "failed",
        result: null,
        error: { code: "trap", message: "t", retryable: false, details: { trap } },
      }),
    );
  }
  assert.equal(metrics.timeouts.value({ handler: "g" }), 1);
  assert.equal(metrics.runDuration.snapshot({ handler: "g" })?.sum, 50);
  assert.equal(metrics.traps.value({ handler: "g", kind: "other" }), 4);
  assert.equal(metrics.traps.seriesCount, 1);
});

Deno.test("tasker.queue.depth is read from the queueDepth option at scrape time", async () => {
  const registry = new MetricsRegistry();
  let depth = 5;
  createWorkerMetrics(registry, {
    queueDepth: () =>
      Promise.resolve([{ namespace: "catalog", queue: "worker_catalog_queue", depth }]),
  });
  assert.ok(
    (await registry.render()).includes(
      'tasker_queue_depth{namespace="catalog",queue="worker_catalog_queue"} 5\n',
    ),
  );
  depth = 0;
  assert.ok(
    (await registry.render()).includes(
      'tasker_queue_depth{namespace="catalog",queue="worker_catalog_queue"} 0\n',
    ),
  );
});

Deno.test("step names from templates cannot grow memory past the series cap", () => {
  const metrics = createWorkerMetrics(new MetricsRegistry({ maxSeries: 50 }));
  for (let i = 0; i < 5000; i++) {
    metrics.beginStep({ namespace: "catalog", step_name: `s${i}` }).finish({ success: true });
  }
  assert.ok(metrics.stepExecutions.seriesCount <= 51);
  assert.ok(metrics.executionDuration.seriesCount <= 51);
  assert.equal(
    metrics.stepExecutions.value({
      namespace: "__overflow__",
      step_name: "__overflow__",
      handler_type: "__overflow__",
    }),
    4950,
  );
});
