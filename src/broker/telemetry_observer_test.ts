import assert from "node:assert/strict";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { RecordingTracer } from "../../tests/support/recording_tracer.ts";
import { emptyMetrics, type StepOutcome } from "../runtime/step_outcome.ts";
import { createJsonLogger } from "../telemetry/json_logger.ts";
import { toSecretScanner } from "../telemetry/tracing.ts";
import { MetricsRegistry } from "../telemetry/metrics_registry.ts";
import { createWorkerMetrics } from "../telemetry/worker_metrics.ts";
import type { StepLabels } from "./broker_observer.ts";
import { createBrokerLogger, createTelemetryObserver } from "./telemetry_observer.ts";

const SECRET = "sk_live_Zq8w3Yc1N0tAReal-secret";

const OUTCOME: StepOutcome = {
  status: "completed",
  result: {},
  error: null,
  metrics: {
    ...emptyMetrics(),
    instantiate_us: 120,
    run_ms: 0.4,
    host_calls: { "io.read_input": 1 },
  },
  logs: [],
};

function labels(step: number): StepLabels {
  return {
    namespace: "catalog",
    queue: "worker_catalog_queue",
    msgId: step,
    taskUuid: `0199c3e0-ccdb-7581-87ab-00000000000${step}`,
    stepUuid: `0199c3e0-ccdb-7581-87ab-00000000010${step}`,
    correlationId: `0199c3e0-ccdb-7581-87ab-00000000020${step}`,
    stepName: "fetch_order",
    // A planner-made callable carrying a secret: it must not reach a span.
    callable: `catalog.http_request@^1?key=${SECRET}`,
  };
}

/** The observer on a recording tracer, with its log lines and metrics; `fn` runs with it. */
async function withObserver(
  fn: (t: {
    observer: ReturnType<typeof createTelemetryObserver>;
    tracer: RecordingTracer;
    lines: () => Record<string, unknown>[];
    metrics: () => Promise<string>;
  }) => Promise<void>,
  secrets: readonly string[] = [],
): Promise<void> {
  const tracer = new RecordingTracer();
  trace.setGlobalTracerProvider({ getTracer: () => tracer });
  try {
    const raw: string[] = [];
    const registry = new MetricsRegistry();
    const observer = createTelemetryObserver({
      metrics: createWorkerMetrics(registry),
      logger: createJsonLogger({ level: "info", sink: (line) => raw.push(line) }),
      secrets,
    });
    await fn({
      observer,
      tracer,
      lines: () => raw.map((l) => JSON.parse(l)),
      metrics: () => registry.render(),
    });
  } finally {
    trace.disable();
  }
}

const HANDLER = { name: "catalog.http_request", version: "1.0.0", digest: "d" };

Deno.test("telemetry observer: every traced step's spans are redacted with the configured secrets", async () => {
  await withObserver(async ({ observer, tracer, lines, metrics }) => {
    for (const step of [1, 2]) {
      const scope = observer.step(labels(step));
      assert.equal(scope.tracing, true);
      await scope.phase("worker.claim", () => Promise.resolve());
      scope.claimed(1, "event");
      scope.ran(OUTCOME, HANDLER);
      await scope.phase("worker.report", () => Promise.resolve());
      scope.reported({ success: true, status: "completed", metadata: {} }, 1);
      scope.end();
    }
    const steps = tracer.byName("worker.step_execution");
    assert.equal(steps.length, 2);
    for (const span of steps) {
      assert.equal(
        span.attributes["tasker.handler.callable"],
        "catalog.http_request@^1?key=[REDACTED]",
      );
      assert.equal(span.ended, 1);
    }
    assert.equal(tracer.byName("worker.claim").length, 2);
    assert.equal(tracer.byName("worker.report").length, 2);
    assert.ok(!JSON.stringify(tracer.spans.map((s) => s.attributes)).includes(SECRET));
    // One "step completed" line a step, with the step's trace ids.
    const completed = lines().filter((l) => l.msg === "step completed");
    assert.equal(completed.length, 2);
    assert.equal(completed[0].step_uuid, labels(1).stepUuid);
    assert.equal(completed[0].span_id, steps[0].spanContext().spanId);
    assert.match(
      await metrics(),
      /tasker_steps_successes_total\{[^}]*step_name="fetch_order"[^}]*\} 2/,
    );
  }, [SECRET]);
});

Deno.test("telemetry observer: a failed step is a warn line, an error span and a failure by error type", async () => {
  await withObserver(async ({ observer, tracer, lines, metrics }) => {
    const scope = observer.step(labels(1));
    scope.claimed(1, "poll");
    scope.ran({
      ...OUTCOME,
      status: "failed",
      result: null,
      error: { code: "trap", message: "unreachable executed", retryable: false, details: {} },
    }, HANDLER);
    scope.reported({
      success: false,
      status: "error",
      metadata: { error_type: "permanent_error", retryable: false },
    }, 1);
    scope.end();
    const failed = lines().find((l) => l.msg === "step failed");
    assert.equal(failed?.level, "warn");
    assert.equal(failed?.code, "trap");
    const span = tracer.one("worker.step_execution");
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes["error.type"], "trap");
    assert.equal(span.attributes["tasker.error_type"], "permanent_error");
    assert.equal(tracer.one("worker.run").status.code, SpanStatusCode.ERROR);
    const text = await metrics();
    assert.match(
      text,
      /tasker_steps_failures_total\{[^}]*error_type="permanent_error",retryable="false"\} 1/,
    );
    assert.match(text, /wasm_broker_traps_total\{handler="catalog.http_request",kind="other"\} 1/);
    assert.doesNotMatch(text, /tasker_steps_successes_total\{/);
  });
});

Deno.test("telemetry observer: a step claimed but never reported counts as not_reported", async () => {
  await withObserver(async ({ observer, tracer, metrics }) => {
    const scope = observer.step(labels(1));
    scope.claimed(1, "event");
    scope.end();
    assert.match(await metrics(), /tasker_steps_failures_total\{[^}]*error_type="not_reported"/);
    assert.equal(tracer.one("worker.step_execution").ended, 1);
  });
});

Deno.test("telemetry observer: a lost claim, a hand-back and a skipped report are told apart", async () => {
  await withObserver(async ({ observer, tracer, lines, metrics }) => {
    const lost = observer.step(labels(1));
    lost.lostClaim("in_progress");
    lost.end();
    const handed = observer.step(labels(2));
    handed.claimed(1, "event");
    handed.handedBack();
    handed.end();
    const skipped = observer.step(labels(3));
    skipped.claimed(1, "event");
    skipped.ran(OUTCOME, HANDLER);
    skipped.reportSkipped("complete");
    skipped.end();

    const [lostSpan, handedSpan, skippedSpan] = tracer.byName("worker.step_execution");
    assert.equal(lostSpan.attributes["wasm_broker.claim"], "lost");
    assert.equal(lostSpan.status.code, SpanStatusCode.OK);
    assert.equal(handedSpan.attributes["wasm_broker.status"], "handed_back");
    assert.equal(handedSpan.attributes["error.type"], "worker_shutdown");
    assert.equal(skippedSpan.status.code, SpanStatusCode.OK);
    const warns = lines().filter((l) => l.level === "warn").map((l) => l.msg);
    assert.deepEqual(warns, [
      "step handed back before it started: the broker is stopping",
      "result not written: the step is no longer this worker's claim",
    ]);
    const text = await metrics();
    // A lost claim never began: two executions, each finished once, as what it was.
    assert.match(text, /tasker_steps_executions_total\{[^}]*\} 2/);
    assert.match(text, /tasker_steps_failures_total\{[^}]*error_type="not_reported"[^}]*\} 1/);
    assert.match(text, /tasker_steps_failures_total\{[^}]*error_type="report_skipped"[^}]*\} 1/);
  });
});

Deno.test("createBrokerLogger: every line names the service and carries no configured secret", () => {
  const raw: string[] = [];
  const log = createBrokerLogger({
    secrets: toSecretScanner([SECRET]),
    level: "info",
    sink: (line) => raw.push(line),
  });
  log.child({ worker_id: "w-1" }).error("database call failed; retrying", {
    error: `password authentication failed for token ${SECRET}`,
    [SECRET]: 1,
  });
  log.debug("below the level");
  assert.equal(raw.length, 1);
  const line = JSON.parse(raw[0]);
  assert.equal(line.service, "wasm-broker");
  assert.equal(line.error, "password authentication failed for token [REDACTED]");
  assert.ok(!raw[0].includes(SECRET));
});
